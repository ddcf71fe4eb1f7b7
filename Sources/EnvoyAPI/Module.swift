// Module EnvoyAPI.
