// FastAPI's /docs page inlines this call and loads Swagger UI from a CDN; the
// dashboard's CSP allows neither, so the page loads these shipped files instead.
// Swagger UI 5.35.0 (swagger-ui-dist from the npm registry, Apache-2.0: LICENSE, NOTICE).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    // The default validator badge asks validator.swagger.io about the schema.
    validatorUrl: null,
  });
});
