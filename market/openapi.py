"""What the API's OpenAPI document says about refusals: every operation lists the problem
responses (``application/problem+json``, RFC 9457, with the app's ``reason``) it can give.

Litestar documents a 400 in its own shape and nothing else; this replaces that, once per app,
from what each route is (``document_problems``):

- every operation: 400 (a value no database holds, a malformed body or query — ``market.storable``
  and the parsing of every route) and 503 (the database or Redis away);
- 401 unless the route is public; 403 where a role guard stands, on every method that changes
  something (a cookie session without its CSRF token, a browser's cross-site request), and on
  every route that is not public (``pin_change_required``: a session opened with a one-time code
  sets its PIN before anything else, ``market.auth.middleware``);
- 404 when the path, the query or the body may name a record; 409, 413 and 422 on methods that
  change something (a conflict with the state, a body past its bound, content refused as a whole);
- what a handler declares beyond that in ``opt={"problems": (410, 429)}``, the multipart body
  of a route that reads its upload itself in ``opt={"upload": "file"}``, and the headers it cannot
  go without though Litestar does not check them (``opt={"required_headers": ("Idempotency-Key",)}``);
  a status the handler documents itself with ``responses=`` (a body of its own shape) is left as
  it is.

And it says what the server takes of ids and text (``document_inputs``): an id in a path, a query
or a request body is an integer from 1 to 2³¹−1 (``market.storable.MAX_ID``: what an id column
holds); text must not hold NUL or unpaired surrogates (said once, in the document's description).

``tests/market/test_route_matrix.py`` calls every operation as every role and checks that each
answer's status is one the document lists.
"""

import dataclasses
from http import HTTPStatus

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Parameter,
    Reference,
    RequestBody,
    Schema,
)
from litestar.routes import HTTPRoute

from market.errors import PROBLEM_JSON
from market.storable import MAX_ID

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
        statuses |= {401, 403}
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
    keep_component_names(document)
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
            for parameter in operation.parameters or ():
                if not isinstance(parameter, Reference) and parameter.param_in == "header" \
                        and parameter.name in getattr(handler, "opt", {}).get("required_headers", ()):
                    parameter.required = True
            if getattr(handler, "opt", {}).get("delegable"):
                operation.parameters = [*(operation.parameters or ()), ACTING_FOR]
                names_records = True
            if (field := getattr(handler, "opt", {}).get("upload")) and operation.request_body is None:
                operation.request_body = upload_body(field)
                names_records = True
            statuses = problem_statuses(handler, method, names_records)
            responses = operation.responses or {}
            if (no_content := responses.get("204")) is not None and isinstance(no_content, OpenAPIResponse):
                no_content.content = None  # Litestar gives a Response[None] a JSON body; 204 has none
            # A status the handler documents itself (an answer of its own shape) stays as it is.
            statuses -= {int(status) for status in (handler.responses or {})}
            for status in sorted(statuses):
                responses[str(status)] = OpenAPIResponse(
                    description=HTTPStatus(status).phrase, content={PROBLEM_JSON: answer},
                )
            operation.responses = dict(sorted(responses.items()))
    document_inputs(document)


#: Litestar names a shape's component after its class, or, where two classes share a name, after
#: their modules' paths too. The shapes moved into ``schemas.py`` files (issue 19), which changed
#: those paths: the names clients generated code from stay what the document always said.
COMPONENT_NAMES = {
    "community_schemas_HouseholdView": "community_structure_HouseholdView",
    "points_schemas_HouseholdView": "points_gifts_HouseholdView",
    "reports_schemas_Board": "reports_leaderboards_Board",
    "shop_schemas_Totals": "shop_reconciliation_Totals",
    "subdistricts_schemas_Totals": "subdistricts_overview_Totals",
}


def keep_component_names(document: object) -> None:
    """Rename the components of ``COMPONENT_NAMES`` back, and every reference to them."""
    schemas = document.components.schemas or {}  # type: ignore[attr-defined]
    moved = {new: old for new, old in COMPONENT_NAMES.items() if new in schemas}
    if not moved:
        return
    document.components.schemas = dict(sorted(  # type: ignore[attr-defined]
        (moved.get(name, name), schema) for name, schema in schemas.items()))
    refs = {f"#/components/schemas/{new}": f"#/components/schemas/{old}" for new, old in moved.items()}
    seen: set[int] = set()

    def walk(node: object) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, Reference):
            node.ref = refs.get(node.ref, node.ref)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)
        elif dataclasses.is_dataclass(node):
            for field in dataclasses.fields(node):
                walk(getattr(node, field.name))

    walk(document)


#: The header a delegate (代办) sends to act for an elder, on the routes that allow it
#: (``market.people.delegates``).
ACTING_FOR = Parameter(
    name="X-Acting-For", param_in="header", required=False,
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_ID),
    description="The id of a resident the caller is a delegate (代办) of: the request is then the "
                "resident's, recorded as made by the caller. 403 `not_your_elder` without an open "
                "link; on any other route, 403 `not_delegable`.",
)


def upload_body(field: str) -> RequestBody:
    """The request body of a route that reads its multipart upload itself (``opt={"upload": …}``),
    which Litestar cannot see: one required file field."""
    return RequestBody(required=True, content={"multipart/form-data": OpenAPIMediaType(schema=Schema(
        type=OpenAPIType.OBJECT, required=[field],
        properties={field: Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)},
    ))})


TEXT_RULE = (
    "Text anywhere in a request (path, query, body) must not contain NUL (U+0000) or unpaired "
    "surrogates: no database here stores them, and the server answers 400 `invalid_character`. "
    "Ids are integers from 1 to 2147483647; one outside that range names nothing (404) or is "
    "refused (400 `out_of_range`)."
)


def _is_id(name: str) -> bool:
    return name == "id" or name.endswith("_id") or name == "community"


def _bound_ids(schema: object, name: str) -> None:
    """Give an integer id (or a list of them, or a nullable one) the range an id column holds."""
    if not isinstance(schema, Schema):
        return
    if schema.type == OpenAPIType.INTEGER and _is_id(name):
        schema.minimum, schema.maximum = 1, MAX_ID
    elif schema.type == OpenAPIType.ARRAY and name.endswith("_ids"):
        _bound_ids(schema.items, name[:-1])
    for choice in schema.one_of or ():
        _bound_ids(choice, name)


def _closed_structs() -> set[str]:
    """The request types that refuse fields they do not know (``forbid_unknown_fields``)."""
    closed, types = set(), [msgspec.Struct]
    while types:
        kind = types.pop()
        types += kind.__subclasses__()
        config = getattr(kind, "__struct_config__", None)
        if config is not None and config.forbid_unknown_fields:
            closed.add(kind.__name__)
    return closed


def document_inputs(document: object) -> None:
    """Ids in paths, queries and request bodies bounded; request types that take no other field
    closed (``additionalProperties: false``); the rule for text in the description."""
    document.info.description = TEXT_RULE  # type: ignore[attr-defined]
    schemas = document.components.schemas or {}  # type: ignore[attr-defined]
    closed = _closed_structs()
    seen: set[str] = set()

    def walk(schema: object) -> None:
        """Every property of a request body, through the components it refers to."""
        if isinstance(schema, Reference):
            name = schema.ref.rsplit("/", 1)[-1]
            if name not in seen and name in schemas:
                seen.add(name)
                if name in closed and isinstance(schemas[name], Schema):
                    schemas[name].additional_properties = False
                walk(schemas[name])
            return
        if not isinstance(schema, Schema):
            return
        for field, inner in (schema.properties or {}).items():
            _bound_ids(inner, field)
            walk(inner)
        for inner in (schema.items, *(schema.one_of or ())):
            walk(inner)

    for item in (document.paths or {}).values():  # type: ignore[attr-defined]
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            for parameter in operation.parameters or ():
                if not isinstance(parameter, Reference):
                    _bound_ids(parameter.schema, parameter.name)
            for media in (getattr(operation.request_body, "content", None) or {}).values():
                walk(media.schema)
