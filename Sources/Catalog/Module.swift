// Module Catalog.
