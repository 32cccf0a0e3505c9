// An Azure Container Apps dynamic session pool (Python code interpreter) for the sandbox's remote
// runner. Sessions have no outbound network; only principals holding Azure ContainerApps Session
// Executor on this pool can run code in it.

@description('Session pool name.')
param name string

@description('Azure region (one that offers Container Apps dynamic sessions).')
param location string

@description('Tags for the resource.')
param tags object = {}

@description('Most sessions alive at once.')
@minValue(1)
@maxValue(600)
param maxConcurrentSessions int = 10

@description('Seconds an idle session lives before it is destroyed.')
@minValue(300)
@maxValue(3600)
param cooldownPeriodInSeconds int = 300

@description('Principal (object) id of the function app\'s managed identity.')
param appPrincipalId string

@description('Principal (object) id of the deploying user or service principal; empty: no assignment.')
param deployerPrincipalId string = ''

@description('Kind of principal deployerPrincipalId is.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

// Built-in role definition id (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var sessionExecutor = '0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0'

resource pool 'Microsoft.App/sessionPools@2025-01-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    poolManagementType: 'Dynamic'
    containerType: 'PythonLTS'
    scaleConfiguration: {
      maxConcurrentSessions: maxConcurrentSessions
    }
    dynamicPoolConfiguration: {
      lifecycleConfiguration: {
        lifecycleType: 'Timed'
        cooldownPeriodInSeconds: cooldownPeriodInSeconds
      }
    }
    sessionNetworkConfiguration: {
      status: 'EgressDisabled'
    }
  }
}

resource appSessionExecutor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(pool.id, appPrincipalId, sessionExecutor)
  scope: pool
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sessionExecutor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerSessionExecutor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(pool.id, deployerPrincipalId, sessionExecutor)
  scope: pool
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sessionExecutor)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output name string = pool.name
output endpoint string = pool.properties.poolManagementEndpoint
