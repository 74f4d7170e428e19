// Starts Swagger UI on the service's own OpenAPI document (served next to this page).
// Requests carry the _xsrf cookie as X-XSRFToken, so "Try it out" also works for a
// browser logged in to the hub (token requests do not need it).
window.addEventListener("load", function () {
  function xsrf() {
    var m = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : null;
  }
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    tryItOutEnabled: false,
    requestInterceptor: function (request) {
      var token = xsrf();
      if (token) request.headers["X-XSRFToken"] = token;
      return request;
    },
  });
});
