"""An SMPP SMSC simulator that stands behind Kannel (see ``server`` and ``control``)."""

from bench.smsc_sim.control import SimulatorThread
from bench.smsc_sim.server import Outcomes, ReceivedMessage, SmscSimulator

__all__ = ["Outcomes", "ReceivedMessage", "SimulatorThread", "SmscSimulator"]
