"""The services' HTTP surface: one ASGI app mounting each service's routes (S12's gateway grows
from it)."""
