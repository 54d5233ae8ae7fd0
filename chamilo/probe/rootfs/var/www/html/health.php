<?php
// health.php: container health check — Apache and PHP answer. Deliberately no database.
header('Content-Type: application/json');
echo json_encode(['ok' => true, 'page' => 'health', 'php' => PHP_VERSION,
    'mysqli' => extension_loaded('mysqli')]), "\n";
