// Renders the API reference from the OpenAPI document named by #api-reference's data-spec.
window.addEventListener('DOMContentLoaded', () => {
  const root = document.getElementById('api-reference');
  if (!root || typeof window.SwaggerUIBundle !== 'function') return;
  window.SwaggerUIBundle({
    url: root.getAttribute('data-spec'),
    domNode: root,
    deepLinking: true,
    // No calls to a third-party validator.
    validatorUrl: null,
  });
});
