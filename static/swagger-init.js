// Starts Swagger UI for ticketapi. Kept out of index.html so that a strict
// Content-Security-Policy (script-src 'self') needs no inline-script exception.
"use strict";

(function () {
  // The page is served at {root_path}/docs; the OAuth2 redirect page sits
  // next to the other assets, at {root_path}/docs/oauth2-redirect.html.
  var docsPath = window.location.pathname.replace(/\/+$/, "");

  window.ui = SwaggerUIBundle({
    url: "openapi.json", // relative to {root_path}/docs: {root_path}/openapi.json
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    displayRequestDuration: true,
    persistAuthorization: false,
    oauth2RedirectUrl: window.location.origin + docsPath + "/oauth2-redirect.html",
    validatorUrl: null, // no badge: never call validator.swagger.io
    queryConfigEnabled: false // ignore ?url= and other config in the page URL
  });
})();
