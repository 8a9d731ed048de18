"""Opening the world view (the read model) on the configured store.

:func:`open_view` is what the game's boot (``aethyr_domain.game.session``), the
``aethyr-es`` projection commands and the tests call. It imports the store's view
module only when called, so importing this module loads no store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aethyr_domain.config import ServerConfig
    from aethyr_domain.read.projections.view import WorldView


def open_view(config: ServerConfig) -> WorldView:
    """The world view on the configured store (created and migrated on first use).

    The view owns the infrastructure factory built for it (its datastore and
    connections): call ``view.close()`` when done with it.
    """
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    from aethyr_domain.read.projections import view_class_for
    from aethyr_domain.read.projections.projection import WorldProjection
    from aethyr_domain.read.projections.view import WorldView

    env = config.eventsourcing_env()
    factory: InfrastructureFactory[Any] = InfrastructureFactory.construct(
        Environment(WorldProjection.name, env)
    )
    try:
        view = factory.tracking_recorder(view_class_for(env))
    except BaseException:
        factory.close()  # e.g. SchemaTooNewError while attaching: release the datastore
        raise
    assert isinstance(view, WorldView)
    view.own(factory.close)
    return view
