"""积分超市: the web application — settings, auth, people, points, the CLI.

``market.app.create_app`` builds the Litestar app; ``market.cli.main`` is the
``market`` command. It uses the ``ledger`` library and never the other way round.
"""

import os

# Piccolo finds its engine through the module named by PICCOLO_CONF (default
# "piccolo_conf", which an installed package run from elsewhere cannot import).
os.environ.setdefault("PICCOLO_CONF", "market.piccolo_conf")
