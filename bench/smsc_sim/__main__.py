"""Run the SMPP simulator as a process: ``python -m bench.smsc_sim --port 2775 --control-port 2776``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from bench.smsc_sim.control import serve_control
from bench.smsc_sim.server import Outcomes, SmscSimulator


def main() -> None:
    parser = argparse.ArgumentParser(description="SMPP 3.4 SMSC simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12775)
    parser.add_argument("--control-port", type=int, default=12776)
    parser.add_argument("--system-id", default="kannel")
    parser.add_argument("--password", default="kannel")
    parser.add_argument("--failed", type=float, default=0.0)
    parser.add_argument("--delayed", type=float, default=0.0)
    parser.add_argument("--rejected", type=float, default=0.0)
    parser.add_argument("--receipt-delay", type=float, default=0.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> None:
    outcomes = Outcomes(
        failed=args.failed, delayed=args.delayed, rejected=args.rejected, receipt_delay=args.receipt_delay
    )
    sim = SmscSimulator(
        host=args.host, port=args.port, accounts={args.system_id: args.password}, outcomes=outcomes
    )
    await sim.start()
    control = await serve_control(sim, args.host, args.control_port)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    control.close()
    await sim.shutdown()


if __name__ == "__main__":
    main()
