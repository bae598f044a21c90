// Renders the API reference from the OpenAPI document named by #api-reference's data-spec.
window.addEventListener('DOMContentLoaded', () => {
  const root = document.getElementById('api-reference');
  if (!root || typeof window.SwaggerUIBundle !== 'function') return;
  window.SwaggerUIBundle({
    url: root.getAttribute('data-spec'),
    domNode: root,
    // Deep links put a link inside each operation's toggle button (a control nested in a control:
    // axe's nested-interactive); the page stays one screen reader stop per operation without them.
    deepLinking: false,
    // No calls to a third-party validator.
    validatorUrl: null,
    // The renderer's server picker has no label of its own.
    onComplete: () => {
      const servers = root.querySelector('select#servers');
      if (servers && !servers.hasAttribute('aria-label')) servers.setAttribute('aria-label', 'Servers');
    },
  });
});
