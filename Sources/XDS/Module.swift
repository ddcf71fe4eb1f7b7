// Module XDS.
