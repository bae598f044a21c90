// Copy buttons of code blocks (button[data-copy]): copies the block's text, says so for two seconds.
document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
  if (!button) return;
  const code = button.parentElement && button.parentElement.querySelector('pre code');
  if (!code || !navigator.clipboard) return;
  navigator.clipboard.writeText(code.textContent || '').then(() => {
    const label = button.textContent;
    button.textContent = button.getAttribute('data-copied') || label;
    setTimeout(() => { button.textContent = label; }, 2000);
  }, () => {
    const range = document.createRange();
    range.selectNodeContents(code);
    const selection = window.getSelection();
    if (selection) { selection.removeAllRanges(); selection.addRange(range); }
  });
});
