"""Code locations for a cluster (deploy/README.md): the project's definitions with a Celery or Kubernetes executor.

Each module needs its optional packages (`pip install -e '.[scale]'`); the embedded default never imports them."""
