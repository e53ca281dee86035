"""mysqlwire: MySQL/MariaDB conversations rebuilt from packet captures, and how each ended."""

# Before any other module of the project is imported: the compiled build, when current.
import mysqlwire.native  # noqa: F401  # isort: skip
