"""What the API's OpenAPI document says about refusals: every operation lists the problem
responses (``application/problem+json``, RFC 9457, with the app's ``reason``) it can give.

Litestar documents a 400 in its own shape and nothing else; this replaces that, once per app,
from what each route is (``document_problems``):

- every operation: 400 (a value no database holds, a malformed body or query — ``market.storable``
  and the parsing of every route) and 503 (the database or Redis away);
- 401 unless the route is public; 403 where a role guard stands, and on every method that changes
  something (a cookie session without its CSRF token, a browser's cross-site request);
- 404 when the path, the query or the body may name a record; 409, 413 and 422 on methods that
  change something (a conflict with the state, a body past its bound, content refused as a whole);
- what a handler declares beyond that in ``opt={"problems": (410, 429)}``; a status the handler
  documents itself with ``responses=`` (a body of its own shape) is left as it is.

``tests/market/test_route_matrix.py`` calls every operation as every role and checks that each
answer's status is one the document lists.
"""

from http import HTTPStatus

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Reference, Schema
from litestar.routes import HTTPRoute

from market.errors import PROBLEM_JSON

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details; `reason` is stable, `detail` in the reader's language.",
    required=["type", "title", "status", "detail", "reason"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, examples=["about:blank"]),
        "title": Schema(type=OpenAPIType.STRING, examples=["Bad Request"]),
        "status": Schema(type=OpenAPIType.INTEGER, minimum=400, maximum=599),
        "detail": Schema(type=OpenAPIType.STRING),
        "reason": Schema(type=OpenAPIType.STRING, examples=["invalid_input"]),
        "field": Schema(type=OpenAPIType.STRING, description="The input the refusal is about, if one."),
        "errors": Schema(
            type=OpenAPIType.ARRAY, description="Each refused field, when the parsing refused several.",
            items=Schema(type=OpenAPIType.OBJECT, properties={
                "field": Schema(type=OpenAPIType.STRING), "message": Schema(type=OpenAPIType.STRING),
            }),
        ),
    },
)


def problem_statuses(handler: object, method: str, names_records: bool) -> set[int]:
    """The refusals a route can answer (see the module)."""
    statuses = {400, 503}
    opt = getattr(handler, "opt", {})
    guards = handler.resolve_guards()  # type: ignore[attr-defined]
    if not opt.get("public"):
        statuses.add(401)
    if method in UNSAFE or any(getattr(guard, "roles", None) for guard in guards):
        statuses.add(403)
    if names_records:
        statuses.add(404)
    if method in UNSAFE:
        statuses |= {409, 413, 422}
    statuses |= set(opt.get("problems", ()))
    return statuses


def document_problems(app: Litestar) -> None:
    """Put every operation's problem responses into the app's OpenAPI document (once per app)."""
    plugin = app.plugins.get(OpenAPIPlugin)
    document = plugin.provide_openapi()
    if document.components.schemas is None:
        document.components.schemas = {}
    if "Problem" in document.components.schemas:
        return  # this app's document has them already
    document.components.schemas["Problem"] = PROBLEM
    answer = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))
    for route in plugin.included_routes.values():
        if not isinstance(route, HTTPRoute) or (item := document.paths.get(route.path_format or "/")) is None:
            continue
        for method, (handler, _) in route.route_handler_map.items():
            operation = getattr(item, method.lower(), None)
            if operation is None:
                continue
            # A path, a query or a body may name a record that is not there (or not the caller's).
            names_records = bool(route.path_parameters or operation.parameters or operation.request_body)
            statuses = problem_statuses(handler, method, names_records)
            responses = operation.responses or {}
            # A status the handler documents itself (an answer of its own shape) stays as it is.
            statuses -= {int(status) for status in (handler.responses or {})}
            for status in sorted(statuses):
                responses[str(status)] = OpenAPIResponse(
                    description=HTTPStatus(status).phrase, content={PROBLEM_JSON: answer},
                )
            operation.responses = dict(sorted(responses.items()))
