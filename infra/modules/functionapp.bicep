// The Flex Consumption plan and the Python function app. The app runs as the user-assigned
// identity; every connection it makes (host storage, deployment package, Application Insights,
// Azure OpenAI) signs in with that identity, so no app setting holds a key.

@description('Function app name (also its host name: https://<name>.azurewebsites.net).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region (one that offers the Flex Consumption plan).')
param location string

@description('Tags for the resources; the app also gets the azd-service-name tag.')
param tags object = {}

@description('Service name in azure.yaml: azd finds the app to deploy to by this tag.')
param serviceName string = 'api'

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Blob endpoint of the storage account (https://<account>.blob.core.windows.net/).')
param blobEndpoint string

@description('Queue endpoint of the storage account.')
param queueEndpoint string

@description('Blob container of the deployment package.')
param deploymentContainerName string

@description('Blob container of the catalog, indexes and cached results (CACHE_CONTAINER).')
param cacheContainerName string

@description('Blob container of job records (JOBS_CONTAINER).')
param jobsContainerName string

@description('Application Insights resource in this resource group.')
param applicationInsightsName string

@description('Azure OpenAI endpoint; empty when there is none.')
param openAiEndpoint string = ''

@description('Azure OpenAI deployment name; empty when there is none.')
param openAiDeployment string = ''

@description('Azure OpenAI data-plane API version.')
param openAiApiVersion string

@description('Where metrics and traces go (ANALYTICS_BACKEND). On Functions a scrape reaches one instance only, so a push backend is the default.')
@allowed([
  'azuremonitor'
  'otlp'
  'prometheus'
  'none'
])
param analyticsBackend string = 'azuremonitor'

@description('Requests one caller may send per minute and per hour, on each instance (0: no limit).')
@minValue(0)
param requestsPerMinute int = 60

@minValue(0)
param requestsPerHour int = 1000

@description('TOOL_ALLOWED_HOSTS: where http and mcp tools may connect.')
param toolAllowedHosts string = ''

@description('TOOL_PRIVATE_NETWORKS: non-public ranges tools may still reach (CIDR).')
param toolPrivateNetworks string = ''

@description('TOOL_SECRETS: secrets tools may name, bound to app settings and hosts (JSON of names, no values).')
param toolSecrets string = ''

@description('TOOL_TOKEN_SCOPES: token scopes tools may ask for, bound to hosts (JSON).')
param toolTokenScopes string = ''

@description('Client id of the app registration with the operator app role; empty: operators use the master key.')
param operatorEntraClientId string = ''

@description('The operator app role (OPERATOR_ROLE), as defined in infra/operator-app-roles.json.')
param operatorRole string = 'ToolWeaver.Admin'

var operatorAuth = empty(operatorEntraClientId) ? 'admin_key' : 'entra'

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

// The Python the app is tested on (pyproject.toml: requires-python, ruff and mypy targets).
var pythonVersion = '3.11'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is offered for Flex Consumption in some regions only; this template must deploy to any Flex region
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the HTTP API is public by design; every route but /api/health requires a function key
  // checkov:skip=CKV_AZURE_17: client certificates would shut out plain HTTPS API clients; function keys authenticate callers
  // checkov:skip=CKV_AZURE_212: Flex Consumption adds and removes instances itself; there is no worker count to set
  // checkov:skip=CKV_AZURE_213: no App Service health-check path: Flex Consumption replaces instances itself; external monitors call GET /api/health
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The whole set of app settings. FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are
      // not here: on Flex Consumption the runtime comes from functionAppConfig.runtime. Every other
      // name is a setting the app reads, with the same name in local.settings.json.example.
      appSettings: [
        // Host and app storage, identity-based: the URIs, and the identity to sign in with.
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: blobEndpoint
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: queueEndpoint
        }
        // DefaultAzureCredential (Azure OpenAI, tools with a token scope) picks this identity.
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        // Telemetry with Entra ID: the connection string names the resource, the authentication
        // string makes the SDKs sign in with the identity (local auth is disabled).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        {
          name: 'AZURE_OPENAI_ENDPOINT'
          value: openAiEndpoint
        }
        {
          name: 'AZURE_OPENAI_DEPLOYMENT'
          value: openAiDeployment
        }
        {
          name: 'AZURE_OPENAI_API_VERSION'
          value: openAiApiVersion
        }
        // The planner: tools offered per request, plan cache (seconds), model call timeout (seconds).
        {
          name: 'PLANNER_TOP_K'
          value: '8'
        }
        {
          name: 'PLANNER_FULL_CATALOG_MAX'
          value: '12'
        }
        {
          name: 'PLAN_CACHE_TTL_SECONDS'
          value: '3600'
        }
        {
          name: 'PLANNER_TIMEOUT'
          value: '60'
        }
        {
          name: 'PLANNER_SYNTHESIZE'
          value: 'true'
        }
        {
          name: 'PLANNER_RESPONSE_FORMAT'
          value: 'auto'
        }
        {
          name: 'PLANNER_INSTRUCTIONS_ROLE'
          value: 'auto'
        }
        // toolweaver/settings.py: empty means the default, as in local.settings.json.example.
        {
          name: 'CATALOG_PATH'
          value: ''
        }
        {
          name: 'EMBEDDING_MODEL_DIR'
          value: ''
        }
        {
          name: 'EMBEDDING_THREADS'
          value: ''
        }
        {
          name: 'EMBEDDING_MAX_LENGTH'
          value: '256'
        }
        {
          name: 'INDEX_CACHE_DIR'
          value: ''
        }
        {
          name: 'SEARCH_TOP_K'
          value: '5'
        }
        {
          name: 'CACHE_CONTAINER'
          value: cacheContainerName
        }
        {
          name: 'JOBS_CONTAINER'
          value: jobsContainerName
        }
        {
          name: 'SEARCH_CACHE_TTL_SECONDS'
          value: '3600'
        }
        {
          name: 'SEARCH_CACHE_MIN_MS'
          value: '20'
        }
        {
          name: 'DISCOVERY_CACHE_TTL_SECONDS'
          value: '86400'
        }
        {
          name: 'CATALOG_REFRESH_SECONDS'
          value: '10'
        }
        {
          name: 'MAX_BODY_BYTES'
          value: '4194304'
        }
        {
          name: 'MAX_REQUEST_BYTES'
          value: '262144'
        }
        {
          name: 'PREWARM'
          value: 'false'
        }
        // Running tools: concurrency, per-call timeout (seconds) and result size cap (bytes).
        {
          name: 'MAX_CONCURRENT_TOOLS'
          value: '8'
        }
        {
          name: 'TOOL_TIMEOUT'
          value: '30'
        }
        {
          name: 'MAX_TOOL_RESPONSE_BYTES'
          value: '1048576'
        }
        {
          name: 'SANDBOX_REQUIRE_SECCOMP'
          value: 'false'
        }
        // Operations: analytics (Application Insights signs in with the identity, see above),
        // per-caller request limits, and JSON log lines.
        {
          name: 'ANALYTICS_BACKEND'
          value: analyticsBackend
        }
        {
          name: 'ANALYTICS_DB_PATH'
          value: ''
        }
        {
          name: 'ANALYTICS_INTERVAL_SECONDS'
          value: '15'
        }
        {
          name: 'OTEL_EXPORTER_OTLP_ENDPOINT'
          value: ''
        }
        {
          name: 'OTEL_EXPORTER_OTLP_HEADERS'
          value: ''
        }
        {
          name: 'OTEL_SERVICE_NAME'
          value: 'toolweaver'
        }
        {
          name: 'REQUESTS_PER_MINUTE'
          value: string(requestsPerMinute)
        }
        {
          name: 'REQUESTS_PER_HOUR'
          value: string(requestsPerHour)
        }
        // The MCP endpoint: catalog tools listed next to the meta-tools, browser origins allowed.
        {
          name: 'MCP_PINNED_TOOLS'
          value: ''
        }
        {
          name: 'MCP_ALLOWED_ORIGINS'
          value: ''
        }
        {
          name: 'LOG_FORMAT'
          value: 'json'
        }
        {
          name: 'TOOL_ALLOWED_HOSTS'
          value: toolAllowedHosts
        }
        {
          name: 'TOOL_PRIVATE_NETWORKS'
          value: toolPrivateNetworks
        }
        {
          name: 'TOOL_SECRETS'
          value: toolSecrets
        }
        {
          name: 'TOOL_TOKEN_SCOPES'
          value: toolTokenScopes
        }
        {
          name: 'OPERATOR_AUTH'
          value: operatorAuth
        }
        {
          name: 'OPERATOR_ROLE'
          value: operatorRole
        }
        {
          name: 'ENTRA_TENANT_ID'
          value: empty(operatorEntraClientId) ? '' : tenant().tenantId
        }
        {
          name: 'ENTRA_CLIENT_ID'
          value: operatorEntraClientId
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Operators through Entra ID: App Service Authentication validates the bearer tokens of the app
// registration and hands the app the principal (x-ms-client-principal, which it strips from what
// clients send). Anonymous requests still pass to the app: callers keep using function keys, and
// the app demands the operator role only on the routes that change the catalog.
resource operatorSignIn 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(operatorEntraClientId)) {
  // checkov reads every sites/config resource as the web config; this one is authsettingsV2, and
  // the site's own checks (logging, tracing, errors, network, stacks, storage) apply to the site:
  // checkov:skip=CKV_AZURE_63: not the web config (authsettingsV2)
  // checkov:skip=CKV_AZURE_65: not the web config (authsettingsV2)
  // checkov:skip=CKV_AZURE_66: not the web config (authsettingsV2)
  // checkov:skip=CKV_AZURE_80: not the web config (authsettingsV2); the app runs Python
  // checkov:skip=CKV_AZURE_88: not the web config (authsettingsV2); Flex Consumption has no Azure Files mount
  // checkov:skip=CKV_AZURE_222: not the site (authsettingsV2); the site's own skip says why it is public
  // checkov:skip=CKV_AZURE_13: this resource is App Service Authentication; it lets keyed callers through by design
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: operatorEntraClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${operatorEntraClientId}'
            operatorEntraClientId
          ]
        }
      }
    }
  }
}

// Publishing with user names and passwords (FTP and the SCM site) is off: deployments sign in
// with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
