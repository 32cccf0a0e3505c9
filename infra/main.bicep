// ToolWeaver on Azure, without keys: `azd up`, or
//   az deployment sub create --location <region> --template-file infra/main.bicep \
//     --parameters environmentName=<name> location=<region> principalId=<your object id>
// creates the resource group and everything in it. Every resource is declared in a local module
// under infra/modules/; nothing comes from a registry.

targetScope = 'subscription'

@description('Name of the environment (azd: AZURE_ENV_NAME); part of every resource name.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Azure region of the resources; it must offer the Flex Consumption plan.')
param location string

@description('Resource group to create; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the deploying user or service principal (azd: AZURE_PRINCIPAL_ID). It gets the same data roles as the app, so the app can run locally against these resources with your own sign-in. Empty: no such roles.')
param principalId string = ''

@description('Kind of principal principalId is.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Memory of each function app instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the function app scales out to (1-1000).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Where metrics and traces go: azuremonitor (the Application Insights created here), otlp (set OTEL_EXPORTER_OTLP_ENDPOINT after deploying), prometheus (GET /api/metrics, per instance) or none.')
@allowed([
  'azuremonitor'
  'otlp'
  'prometheus'
  'none'
])
param analyticsBackend string = 'azuremonitor'

@description('Hosts http and mcp tools may connect to (TOOL_ALLOWED_HOSTS): comma-separated names, *.wildcards or host:port. Empty: none.')
param toolAllowedHosts string = ''

@description('Non-public address ranges tools may still reach (TOOL_PRIVATE_NETWORKS), as CIDR; for services in a virtual network.')
param toolPrivateNetworks string = ''

@description('Secrets tools may name, each bound to an app setting and its hosts (TOOL_SECRETS, JSON). Holds names, not values: put each value in its own app setting, as a Key Vault reference.')
param toolSecrets string = ''

@description('Entra ID token scopes tools may ask the app identity for, each bound to its hosts (TOOL_TOKEN_SCOPES, JSON).')
param toolTokenScopes string = ''

@description('Client id of an Entra ID app registration that defines the operator app role (infra/operator-app-roles.json). Empty: operators use the host master key (admin level). Set: App Service Authentication validates its tokens and operators need the app role.')
param operatorEntraClientId string = ''

@description('Azure OpenAI for the planner: new (an account and a model deployment here), existing (give existingOpenAiEndpoint and openAiDeploymentName), or none.')
@allowed([
  'new'
  'existing'
  'none'
])
param openAiMode string = 'new'

@description('Endpoint of an existing Azure OpenAI account (openAiMode existing). Grant the app identity Cognitive Services OpenAI User on that account yourself.')
param existingOpenAiEndpoint string = ''

@description('Region of a new Azure OpenAI account; empty: the same as location.')
param openAiLocation string = ''

@description('Model deployment name (AZURE_OPENAI_DEPLOYMENT), new or existing.')
param openAiDeploymentName string = 'gpt-4o-mini'

@description('Model of a new deployment.')
param openAiModelName string = 'gpt-4o-mini'

@description('Model version of a new deployment.')
param openAiModelVersion string = '2024-07-18'

@description('SKU of a new deployment: pay per token, nothing at rest.')
@allowed([
  'GlobalStandard'
  'Standard'
  'DataZoneStandard'
])
param openAiDeploymentSku string = 'GlobalStandard'

@description('Capacity of a new deployment, in thousands of tokens per minute.')
@minValue(1)
param openAiCapacity int = 10

@description('Azure OpenAI data-plane API version the app uses (AZURE_OPENAI_API_VERSION).')
param openAiApiVersion string = '2024-10-21'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'toolweaver'
}
var newOpenAi = openAiMode == 'new'
var existingOpenAi = openAiMode == 'existing'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module openAi 'modules/openai.bicep' = if (newOpenAi) {
  name: 'openai'
  scope: rg
  params: {
    name: 'oai-${resourceToken}'
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    deploymentName: openAiDeploymentName
    modelName: openAiModelName
    modelVersion: openAiModelVersion
    deploymentSku: openAiDeploymentSku
    capacity: openAiCapacity
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

var openAiEndpoint = newOpenAi ? openAi.outputs.endpoint : (existingOpenAi ? existingOpenAiEndpoint : '')
var openAiDeployment = newOpenAi ? openAi.outputs.deploymentName : (existingOpenAi ? openAiDeploymentName : '')

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: 'func-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    cacheContainerName: storage.outputs.cacheContainerName
    jobsContainerName: storage.outputs.jobsContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    openAiEndpoint: openAiEndpoint
    openAiDeployment: openAiDeployment
    openAiApiVersion: openAiApiVersion
    toolAllowedHosts: toolAllowedHosts
    toolPrivateNetworks: toolPrivateNetworks
    toolSecrets: toolSecrets
    toolTokenScopes: toolTokenScopes
    operatorEntraClientId: operatorEntraClientId
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    analyticsBackend: analyticsBackend
  }
}

// Names and endpoints only: azd stores these in .azure/<env>/.env. No key, token or connection
// string is ever an output (deployment history keeps outputs).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output TOOLWEAVER_API_URL string = 'https://${functionApp.outputs.defaultHostName}/api'
output AZURE_IDENTITY_NAME string = identity.outputs.name
output AZURE_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_LOG_ANALYTICS_NAME string = monitoring.outputs.logAnalyticsName
output AZURE_OPENAI_ENDPOINT string = openAiEndpoint
output AZURE_OPENAI_DEPLOYMENT string = openAiDeployment
