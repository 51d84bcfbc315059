"""An SMPP SMSC simulator that stands behind Kannel (see ``server`` and ``control``)."""

from campaigns.smsc_sim.control import SimulatorThread
from campaigns.smsc_sim.server import Outcomes, ReceivedMessage, SmscSimulator

__all__ = ["Outcomes", "ReceivedMessage", "SimulatorThread", "SmscSimulator"]
