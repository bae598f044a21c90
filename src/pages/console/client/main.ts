// The console's client script: see the page modules.
