"""ctm-course: the helper package of the course book *Neural networks that think in time*."""

from .notebook import Lesson, start
from .profile import device, profile

__version__ = "0.1.0"
__all__ = ["Lesson", "device", "profile", "start", "__version__"]
