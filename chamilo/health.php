<?php
// Health of the web tier only (Apache + PHP), not of the database: see apache-chamilo.conf.
header('Content-Type: text/plain');
echo "ok\n";
