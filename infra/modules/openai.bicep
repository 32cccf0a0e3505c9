// An Azure OpenAI account with one model deployment, keys disabled: the app calls it with its
// managed identity, which holds Cognitive Services OpenAI User on this account only.

@description('Account name; also its custom subdomain (https://<name>.openai.azure.com/).')
param name string

@description('Azure region of the account (the model must be offered there).')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Deployment name the app sends requests to (AZURE_OPENAI_DEPLOYMENT).')
param deploymentName string

@description('Model name.')
param modelName string

@description('Model version.')
param modelVersion string

@description('Deployment SKU: GlobalStandard and Standard bill per token, with no charge at rest.')
@allowed([
  'GlobalStandard'
  'Standard'
  'DataZoneStandard'
])
param deploymentSku string = 'GlobalStandard'

@description('Deployment capacity in thousands of tokens per minute.')
@minValue(1)
param capacity int = 10

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
var cognitiveServicesOpenAiUser = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  // checkov:skip=CKV_AZURE_134: Flex Consumption without a virtual network reaches the endpoint publicly; requests need an Entra ID token (local auth is disabled)
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: deploymentSku
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
  }
}

resource appOpenAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, appPrincipalId, cognitiveServicesOpenAiUser)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAiUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerOpenAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(account.id, deployerPrincipalId, cognitiveServicesOpenAiUser)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAiUser)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output name string = account.name
output endpoint string = account.properties.endpoint
output deploymentName string = deployment.name
