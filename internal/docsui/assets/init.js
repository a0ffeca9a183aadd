// Swagger UI configuration for the gateway's /docs page. It lives in its own file, not in an inline
// <script>, so the Content-Security-Policy can allow scripts from 'self' only.
(function () {
  "use strict";

  // The gateway serves its spec at the site root (/openapi.yaml) and this page at /docs/.
  // Resolving "../openapi.yaml" against the page gives exactly /openapi.yaml there, and keeps
  // working when a reverse proxy mounts the gateway under a prefix (/crm/docs/ -> /crm/openapi.yaml),
  // which a hard-coded "/openapi.yaml" would not. A bare "openapi.yaml" would wrongly ask for
  // /docs/openapi.yaml.
  var specURL = new URL("../openapi.yaml", window.location.href).href;

  window.ui = SwaggerUIBundle({
    url: specURL,
    dom_id: "#swagger-ui",
    // The default sends the spec to validator.swagger.io: an external call we never want.
    validatorUrl: null,
    // Operation and tag permalinks (#/tag/operationId) for sharing links to the docs.
    deepLinking: true,
    // Keep an entered API key across reloads so "Try it out" stays usable while reading.
    persistAuthorization: true,
    // Never let ?url= or ?configUrl= in the address bar point the page at another spec.
    queryConfigEnabled: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
