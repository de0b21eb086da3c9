"""ctm-course: the helper package of the course book *Neural networks that think in time*."""
from .profile import device, profile

__version__ = "0.1.0"
__all__ = ["device", "profile", "__version__"]
