// Starts Swagger UI (vendored under ../vendor/swagger-ui) on our spec: no inline script, no CDN,
// no external validator badge, so /docs runs under the same default-src 'none' policy as the rest.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
