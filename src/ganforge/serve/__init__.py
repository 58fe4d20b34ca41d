"""`ganforge serve`: exported generators behind an HTTP API and a web page (needs the `serve` extra)."""

from __future__ import annotations

from pathlib import Path

from ..errors import GanforgeError


def _require_serve_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise GanforgeError("`ganforge serve` needs FastAPI and uvicorn: pip install 'ganforge[serve]'") from None


def build_app(paths: list[str | Path], device: str = "auto", settings=None, drift_window: int | None = None):
    """The served application for these export folders (what `ganforge serve` runs and the tests call)."""
    _require_serve_extra()
    from ..drift import DEFAULT_WINDOW
    from ..utils import resolve_device
    from .app import ServeSettings, create_app
    from .models import load_served

    settings = settings or ServeSettings()
    models = load_served(paths, resolve_device(device), drift_window or DEFAULT_WINDOW, max(1, settings.max_batch))
    return create_app(models, settings)


def run_server(app, host: str, port: int, log_level: str = "info") -> None:
    """Serve `app` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
