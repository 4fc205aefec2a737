"""The service's HTTP API (FastAPI): :mod:`~.app` builds the application, :mod:`~.schemas`
holds the request and response models, :mod:`~.deps` what routes depend on (the store, the
queue, the API key), :mod:`~.errors` the one error shape, and ``routers/`` one module per
resource."""
