"""RAVE v1 (Caillon & Esling 2021) in torch + Lightning; see docs/model.md."""

from ravejobs.model.module import RAVE
from ravejobs.model.trained import TrainedRAVE, load_trained

__all__ = ["RAVE", "TrainedRAVE", "load_trained"]
