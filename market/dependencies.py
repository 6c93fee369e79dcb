"""What handlers can ask for by name: the ledger, the settings, the signed-in person…

Everything lives on ``app.state`` (set up in ``market.app``). No provider opens
a database transaction: Litestar resolves dependencies in separate tasks, and
a transaction's context would not reach the handler. Services own transactions.
"""

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from ledger import Ledger
from market.auth.guards import principal_of
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter, TotalFailures
from market.auth.sessions import Principal
from market.errors import NotSignedIn
from market.settings import Settings


def provide_ledger(state: State) -> Ledger:
    return state.ledger


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_hasher(state: State) -> SecretHasher:
    return state.hasher


def provide_limiter(state: State) -> LoginLimiter:
    return state.limiter


def provide_source_limiter(state: State) -> LoginLimiter:
    return state.source_limiter


def provide_network_limiter(state: State) -> LoginLimiter:
    return state.network_limiter


def provide_total_failures(state: State) -> TotalFailures:
    return state.total_failures


def provide_me(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise NotSignedIn()
    return principal


DEPENDENCIES = {
    "ledger": Provide(provide_ledger, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "hasher": Provide(provide_hasher, sync_to_thread=False),
    "limiter": Provide(provide_limiter, sync_to_thread=False),
    "source_limiter": Provide(provide_source_limiter, sync_to_thread=False),
    "network_limiter": Provide(provide_network_limiter, sync_to_thread=False),
    "total_failures": Provide(provide_total_failures, sync_to_thread=False),
    "me": Provide(provide_me, sync_to_thread=False),
}
