<?php
/*
 * Unattended first install of Chamilo 1.11 for galera-ha-lab, run by chamilo-entrypoint as
 * www-data with the PHP CLI:
 *
 *   php lab-install.php status    prints "installed" or "not-installed" (exit 3: database unreachable)
 *   php lab-install.php install   runs the same steps as main/install/index.php's final step
 *
 * Why not POST the web installer's forms with curl: the installer must run on a session with
 * auto_increment_increment=1 and auto_increment_offset=1, because Galera's
 * wsrep_auto_increment_control makes ids start at the node's offset and Chamilo expects
 * access_url id 1 (chamilo/chamilo-lms#2010). Only code that holds the installer's own Doctrine
 * connection can set that; the web installer gives no hook. So this script loads Chamilo's install
 * library, opens the connection with Chamilo's connectToDatabase(), pins and fixes the session,
 * then calls the same functions index.php calls (schema from the entity metadata, then
 * finishInstallation()), passing finishInstallation's arguments by name so that a 1.11.x release
 * with another signature fails with a clear message instead of a wrong install.
 *
 * Inputs (environment): LAB_CHAMILO_CONFIG (the rendered configuration.php, the one source of
 * the database settings), LAB_CHAMILO_ANSWERS (install.json: admin account, campus), CHAMILO_ROOT.
 * Done-marker: table lab_install_state in Chamilo's database, written last, so an install cut
 * short is redone from scratch (index.php's step drops and re-creates the database first).
 */

const MARKER_TABLE = 'lab_install_state';

function fail(string $message, int $code = 1): void
{
    fwrite(STDERR, "lab-install: $message\n");
    exit($code);
}

function say(string $message): void
{
    fwrite(STDERR, "lab-install: $message\n");
}

/** The rendered configuration.php's $_configuration array. */
function load_configuration(string $path): array
{
    if (!is_readable($path)) {
        fail("configuration $path is not readable");
    }
    $_configuration = [];
    require $path;
    foreach (['db_host', 'db_port', 'main_database', 'db_user', 'db_password', 'root_web'] as $key) {
        if (!isset($_configuration[$key])) {
            fail("configuration $path has no '$key'");
        }
    }
    return $_configuration;
}

/** Plain PDO connection for the status check: needs nothing of Chamilo. */
function pdo_connect(array $c): PDO
{
    $dsn = sprintf('mysql:host=%s;port=%d;dbname=%s;charset=utf8mb4', $c['db_host'], $c['db_port'], $c['main_database']);
    return new PDO($dsn, $c['db_user'], $c['db_password'], [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_TIMEOUT => 5,
    ]);
}

function status(array $c): void
{
    try {
        $pdo = pdo_connect($c);
        $has = $pdo->prepare('SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?');
        $has->execute([MARKER_TABLE]);
        $done = $has->fetchColumn() > 0 && $pdo->query('SELECT COUNT(*) FROM '.MARKER_TABLE)->fetchColumn() > 0;
    } catch (PDOException $e) {
        fail("database {$c['db_host']}:{$c['db_port']} not usable: ".$e->getMessage(), 3);
    }
    echo $done ? "installed\n" : "not-installed\n";
}

/**
 * Keep the whole install on one Galera node with sequential ids. The user variable makes
 * ProxySQL disable multiplexing and routing for this session (it can't know where the variable
 * lives), so the session stays on the writer and the SET SESSION below stays in effect; through
 * HAProxy the session is one TCP connection to the writer anyway.
 */
function pin_session($connection): void
{
    $connection->executeQuery('SET @lab_chamilo_install = 1');
    $connection->executeQuery('SET SESSION auto_increment_increment = 1, auto_increment_offset = 1');
    $row = $connection->fetchAssoc('SELECT @@SESSION.auto_increment_increment AS inc, @@SESSION.auto_increment_offset AS off');
    if ((int) $row['inc'] !== 1 || (int) $row['off'] !== 1) {
        fail("the session kept auto_increment_increment={$row['inc']} offset={$row['off']}; is a proxy resetting session variables?");
    }
}

/** Call a Chamilo function with arguments matched by parameter name, refusing unknown required ones. */
function call_by_name(string $function, array $named)
{
    if (!function_exists($function)) {
        fail("Chamilo's install library has no $function(); this script supports Chamilo 1.11.x");
    }
    $args = [];
    foreach ((new ReflectionFunction($function))->getParameters() as $p) {
        if (array_key_exists($p->getName(), $named)) {
            $args[] = $named[$p->getName()];
        } elseif ($p->isOptional()) {
            $args[] = $p->getDefaultValue();
        } else {
            fail("$function() wants \${$p->getName()}, which this script does not know; update lab-install.php for this Chamilo release");
        }
    }
    return $function(...$args);
}

function install(array $c, array $answers, string $root): void
{
    global $_configuration, $new_version;
    $_configuration = $c;
    // api_get_path() and friends read the request; give them the URL users will browse
    $url = parse_url($c['root_web']);
    $_SERVER += ['HTTP_HOST' => $url['host'].(isset($url['port']) ? ':'.$url['port'] : ''),
                 'SERVER_NAME' => $url['host'], 'REQUEST_URI' => '/main/install/index.php',
                 'SCRIPT_NAME' => '/main/install/index.php', 'SERVER_PORT' => $url['port'] ?? 80];
    define('SYSTEM_INSTALLATION', 1);
    chdir("$root/main/install");  // index.php's relative includes
    require_once "$root/vendor/autoload.php";
    require_once "$root/main/inc/lib/api.lib.php";
    foreach (['database.constants.inc.php', 'fileManage.lib.php'] as $lib) {
        if (is_file("$root/main/inc/lib/$lib")) {
            require_once "$root/main/inc/lib/$lib";
        }
    }
    require_once "$root/main/install/install.lib.php";
    require_once "$root/main/install/version.php";
    say("installing Chamilo $new_version into {$c['main_database']} at {$c['db_host']}:{$c['db_port']}");

    $db = preg_replace('/[^a-zA-Z0-9_\-]/', '', $c['main_database']);
    $manager = connectToDatabase($c['db_host'], $c['db_user'], $c['db_password'], null, $c['db_port']);
    // as index.php does: a half-done earlier attempt leaves nothing behind
    $manager->getConnection()->getSchemaManager()->dropAndCreateDatabase($db);
    $manager = connectToDatabase($c['db_host'], $c['db_user'], $c['db_password'], $db, $c['db_port']);
    $connection = $manager->getConnection();
    pin_session($connection);

    (new \Doctrine\ORM\Tools\SchemaTool($manager))->createSchema($manager->getMetadataFactory()->getAllMetadata());
    call_by_name('finishInstallation', [
        'manager' => $manager,
        'sysPath' => api_get_path(SYS_PATH),
        'encryptPassForm' => $c['password_encryption'] ?? 'bcrypt',
        'passForm' => $answers['admin_password'],
        'adminLastName' => $answers['admin_lastname'],
        'adminFirstName' => $answers['admin_firstname'],
        'loginForm' => $answers['admin_login'],
        'emailForm' => $answers['admin_email'],
        'adminPhoneForm' => $answers['admin_phone'],
        'languageForm' => $answers['language'],
        'institutionForm' => $answers['institution'],
        'institutionUrlForm' => $answers['institution_url'],
        'campusForm' => $answers['campus_name'],
        'allowSelfReg' => $answers['allow_self_registration'],
        'allowSelfRegProf' => $answers['allow_teacher_self_registration'],
        'installationProfile' => '',
    ]);

    // the pitfall this script exists for: prove it did not happen
    $ids = $connection->fetchAll('SELECT id FROM access_url ORDER BY id');
    if (count($ids) !== 1 || (int) $ids[0]['id'] !== 1) {
        fail('access_url ids are '.json_encode(array_column($ids, 'id')).', Chamilo needs exactly id 1 (chamilo/chamilo-lms#2010)');
    }
    $connection->executeUpdate('UPDATE access_url SET url = ? WHERE id = 1', [$c['root_web']]);
    // Galera replicates rows of tables without a primary key poorly (DELETEs may differ per node)
    $noKey = $connection->fetchAll(
        "SELECT t.TABLE_NAME AS name FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = DATABASE()
           AND t.TABLE_TYPE = 'BASE TABLE' AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c
           WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY')");
    say($noKey ? 'WARNING: tables without a primary key (unsafe on Galera): '.implode(', ', array_column($noKey, 'name'))
               : 'every table has a primary key');
    $connection->executeQuery('CREATE TABLE IF NOT EXISTS '.MARKER_TABLE.' (id TINYINT PRIMARY KEY, version VARCHAR(32) NOT NULL, installed_at DATETIME NOT NULL)');
    $connection->executeUpdate('REPLACE INTO '.MARKER_TABLE.' VALUES (1, ?, NOW())', [$new_version]);
    say("done: admin login '{$answers['admin_login']}', password in the stack's secrets/chamilo-install.json");
}

$command = $argv[1] ?? '';
$config = load_configuration(getenv('LAB_CHAMILO_CONFIG') ?: '/run/lab-app/configuration.php');
if ($command === 'status') {
    status($config);
} elseif ($command === 'install') {
    $answersPath = getenv('LAB_CHAMILO_ANSWERS') ?: '/run/lab-app/install.json';
    $answers = json_decode((string) @file_get_contents($answersPath), true);
    if (!is_array($answers)) {
        fail("install answers $answersPath are missing or not JSON");
    }
    install($config, $answers, rtrim(getenv('CHAMILO_ROOT') ?: '/var/www/chamilo', '/'));
} else {
    fail('usage: php lab-install.php status|install', 2);
}
