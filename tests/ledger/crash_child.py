"""Posts transfers, holds and posts forever, printing each id once the ledger acknowledged it.

Run by test_crash.py, which kills this process with SIGKILL at random moments.
"""

import asyncio
import itertools
import sys

from ledger import Ledger, LedgerError


async def main(url: str, life: str, issuance: int, wallet: int, shop: int) -> None:
    async with Ledger.from_url(url) as ledger:

        async def one(n: int) -> None:
            tid = f"{life}-{n}"
            try:
                match n % 4:
                    case 0 | 1:
                        await ledger.transfer(tid, issuance, wallet, "1.25", "earn")
                    case 2:
                        await ledger.transfer(tid, wallet, shop, "0.50", "redeem")
                    case 3:
                        await ledger.hold(tid, wallet, shop, "0.75", "order")
                        print(f"ack {tid}", flush=True)
                        tid = f"{tid}/post"
                        await ledger.post(tid, f"{life}-{n}", "0.50")
            except LedgerError:
                return
            print(f"ack {tid}", flush=True)

        counter = itertools.count()
        while True:
            await asyncio.gather(*[one(next(counter)) for _ in range(64)])


if __name__ == "__main__":
    url, life, *ids = sys.argv[1:]
    asyncio.run(main(url, life, *map(int, ids)))
