"""The API's docs page (``/api/docs``): Swagger UI served by the API itself.

FastAPI's default page loads Swagger UI from a public CDN, so it is blank on a city
network without internet access. The assets come from the ``fastapi-swagger`` package
instead (Swagger UI 5, which renders OpenAPI 3.1; a pinned range in pyproject.toml),
mounted with Starlette's documented ``StaticFiles(packages=...)`` and put into FastAPI's
documented :func:`fastapi.openapi.docs.get_swagger_ui_html`. Nothing on the page comes
from another origin.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the page is, and where its assets are served.
DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"
#: The package and folder holding ``swagger-ui-bundle.js``, ``swagger-ui.css`` and the icon.
ASSETS_PACKAGE = ("fastapi_swagger", "resources")
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
#: Swagger UI options: no online validator badge (it would call a public host).
PARAMETERS: dict[str, Any] = {"validatorUrl": None, "persistAuthorization": True, "tryItOutEnabled": True}


def add_docs(app: FastAPI) -> None:
    """Serve the docs page at :data:`DOCS_PATH` with same-origin assets.

    Args:
        app: built with ``docs_url=None`` (this replaces FastAPI's CDN page).
    """
    app.mount(ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} — API docs",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            swagger_ui_parameters=PARAMETERS,
        )
