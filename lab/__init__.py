"""galera-ha-lab: generate, start and break a MariaDB Galera HA stack for Chamilo on one machine."""
