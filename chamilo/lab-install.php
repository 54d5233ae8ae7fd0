<?php
/*
 * Unattended first install of Chamilo 1.11 for galera-ha-lab, run by chamilo-entrypoint as
 * www-data with the PHP CLI:
 *
 *   php lab-install.php status    prints "installed" or "not-installed" (exit 3: database unreachable)
 *   php lab-install.php install   runs Chamilo's own web installer (exit 4: install node not prepared)
 *
 * Why Chamilo's own installer: main/install/index.php's last step does much more than create the
 * schema and call finishInstallation() (extra tables, the version table, the libraries loaded by
 * its includes, the config files it writes), and that changes between 1.11.x releases; copying
 * it by hand failed three ways on 1.11.28. So this script serves the release with PHP's built-in
 * web server on loopback (never published; Apache keeps main/install denied) and POSTs the
 * installer's final form, with every field the earlier steps would have carried, exactly as a
 * browser does after step 5. Chamilo then installs itself, as the web installer always does.
 *
 * Why straight to one Galera node and not through the VIP: with wsrep_auto_increment_control=ON
 * each node hands out ids with increment = cluster size and its own offset, and a session can't
 * override that, while Chamilo expects access_url id 1 and sequential ids (chamilo/chamilo-lms#2010).
 * `galera-lab up` switches the control off on that one node for the install (sequential 1/1) and
 * restores it afterwards (lab/chamilo.py). The installer opens several connections; through a
 * proxy each could reach another node (ProxySQL also sends SELECTs to readers), so the install
 * talks to the prepared node directly, on the backend network, whatever the proxy tier.
 *
 * Inputs (environment): LAB_CHAMILO_CONFIG (the rendered configuration.php: database, URL),
 * LAB_CHAMILO_ANSWERS (install.json: admin account, campus, install node), CHAMILO_ROOT.
 * Done-marker: table lab_install_state, written last, so an install cut short is redone (the
 * installer drops and re-creates the database first).
 */

const MARKER_TABLE = 'lab_install_state';
const SERVER_PORT = 8099;  // loopback only, inside the container, during the install

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

/** Plain PDO connection: needs nothing of Chamilo. */
function pdo_connect(string $host, $port, string $user, string $password, ?string $db): PDO
{
    $dsn = sprintf('mysql:host=%s;port=%d;charset=utf8mb4', $host, $port).($db === null ? '' : ";dbname=$db");
    return new PDO($dsn, $user, $password, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 5]);
}

function status(array $c): void
{
    try {
        $pdo = pdo_connect($c['db_host'], $c['db_port'], $c['db_user'], $c['db_password'], $c['main_database']);
        $has = $pdo->prepare('SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?');
        $has->execute([MARKER_TABLE]);
        $done = $has->fetchColumn() > 0 && $pdo->query('SELECT COUNT(*) FROM '.MARKER_TABLE)->fetchColumn() > 0;
    } catch (PDOException $e) {
        fail("database {$c['db_host']}:{$c['db_port']} not usable: ".$e->getMessage(), 3);
    }
    echo $done ? "installed\n" : "not-installed\n";
}

/** A new session on the install node hands out sequential ids (lab/chamilo.py prepared it), else exit 4. */
function check_node_prepared(PDO $node, string $where): void
{
    $row = $node->query('SELECT @@auto_increment_increment AS inc, @@auto_increment_offset AS off, @@wsrep_auto_increment_control AS ctl')->fetch(PDO::FETCH_ASSOC);
    if ((int) $row['inc'] !== 1 || (int) $row['off'] !== 1) {
        fail("install node $where hands out ids with increment {$row['inc']}, offset {$row['off']} "
            ."(wsrep_auto_increment_control={$row['ctl']}); waiting for `galera-lab up` to prepare it", 4);
    }
}

/** The fields main/install/index.php's step-6 form carries (hidden fields of steps 1-5, then the install button). */
function installer_form(array $c, array $a, string $root, string $version): array
{
    return [
        'updatePath' => '', 'urlAppendPath' => '', 'pathForm' => "$root/", 'urlForm' => $c['root_web'],
        'dbHostForm' => $a['install_db_host'], 'dbPortForm' => (string) $a['install_db_port'],
        'dbUsernameForm' => $c['db_user'], 'dbPassForm' => $c['db_password'], 'dbNameForm' => $c['main_database'],
        'allowSelfReg' => $a['allow_self_registration'], 'allowSelfRegProf' => $a['allow_teacher_self_registration'],
        'emailForm' => $a['admin_email'], 'adminLastName' => $a['admin_lastname'],
        'adminFirstName' => $a['admin_firstname'], 'adminPhoneForm' => $a['admin_phone'],
        'loginForm' => $a['admin_login'], 'passForm' => $a['admin_password'], 'languageForm' => $a['language'],
        'campusForm' => $a['campus_name'], 'educationForm' => $a['institution'],
        'institutionForm' => $a['institution'], 'institutionUrlForm' => $a['institution_url'],
        'checkEmailByHashSent' => '0', 'ShowEmailNotCheckedToStudent' => '1', 'userMailCanBeEmpty' => '1',
        'encryptPassForm' => $c['password_encryption'] ?? 'bcrypt', 'session_lifetime' => '360000',
        'old_version' => '', 'new_version' => $version, 'installationProfile' => '',
        'is_executable' => 'step6', 'step6' => '1', 'button_step6' => 'Install',
    ];
}

/** Serve the release on loopback with PHP's built-in server until $fn returns. */
function with_builtin_server(string $root, string $log, callable $fn)
{
    $server = proc_open([PHP_BINARY, '-S', '127.0.0.1:'.SERVER_PORT, '-t', $root],
        [0 => ['file', '/dev/null', 'r'], 1 => ['file', $log, 'a'], 2 => ['file', $log, 'a']], $pipes, $root);
    if (!is_resource($server)) {
        fail('could not start PHP\'s built-in web server for the installer');
    }
    try {
        for ($i = 0; $i < 50 && !@fsockopen('127.0.0.1', SERVER_PORT); $i++) {
            usleep(100000);
        }
        return $fn('http://127.0.0.1:'.SERVER_PORT);
    } finally {
        proc_terminate($server);
        proc_close($server);
    }
}

function post(string $url, array $fields): array
{
    $ch = curl_init($url);
    curl_setopt_array($ch, [CURLOPT_POST => true, CURLOPT_POSTFIELDS => http_build_query($fields),
        CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => 900, CURLOPT_PROXY => '']);
    $body = curl_exec($ch);
    $status = curl_getinfo($ch, CURLINFO_HTTP_CODE);
    $error = curl_error($ch);
    curl_close($ch);
    return [$status, $body === false ? '' : $body, $error];
}

/** What the installer left, checked on the install node: the pitfalls this script exists for. */
function verify(PDO $pdo, array $a): void
{
    $ids = $pdo->query('SELECT id FROM access_url ORDER BY id')->fetchAll(PDO::FETCH_COLUMN);
    if ($ids !== ['1'] && $ids !== [1]) {
        fail('access_url ids are '.json_encode($ids).', Chamilo needs exactly id 1 (chamilo/chamilo-lms#2010)');
    }
    $admin = $pdo->prepare('SELECT u.id FROM user u JOIN admin ad ON ad.user_id = u.id WHERE u.username = ?');
    $admin->execute([$a['admin_login']]);
    $adminId = $admin->fetchColumn();
    if ($adminId === false) {
        fail("the installer made no admin user '{$a['admin_login']}'");
    }
    $settings = (int) $pdo->query('SELECT COUNT(*) FROM settings_current WHERE access_url = 1')->fetchColumn();
    say("access_url [1], admin user id $adminId, $settings platform settings");
    // Galera replicates rows of tables without a primary key poorly (DELETEs may differ per node)
    $noKey = $pdo->query(
        "SELECT t.TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = DATABASE()
           AND t.TABLE_TYPE = 'BASE TABLE' AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c
           WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY')")
        ->fetchAll(PDO::FETCH_COLUMN);
    say($noKey ? 'WARNING: tables without a primary key (unsafe on Galera): '.implode(', ', $noKey)
               : 'every table has a primary key');
}

function install(array $c, array $a, string $root): void
{
    foreach (['install_db_host', 'install_db_port', 'admin_login', 'admin_password'] as $key) {
        if (!isset($a[$key])) {
            fail("install answers have no '$key'");
        }
    }
    $where = "{$a['install_db_host']}:{$a['install_db_port']}";
    try {
        check_node_prepared(pdo_connect($a['install_db_host'], $a['install_db_port'], $c['db_user'], $c['db_password'], null), $where);
    } catch (PDOException $e) {
        fail("install node $where not usable: ".$e->getMessage(), 3);
    }
    if (file_exists("$root/app/config/configuration.php")) {
        fail("$root/app/config/configuration.php exists: Chamilo's installer refuses to run over an installed system");
    }
    $new_version = null;
    require "$root/main/install/version.php";
    say("installing Chamilo $new_version into {$c['main_database']} on $where with Chamilo's web installer");
    $log = sys_get_temp_dir().'/lab-install-server.log';
    $started = microtime(true);
    [$status, $body, $error] = with_builtin_server($root, $log, function (string $base) use ($c, $a, $root, $new_version) {
        return post("$base/main/install/index.php?running=1&installType=new&updateFromConfigFile=",
                    installer_form($c, $a, $root, $new_version));
    });
    $page = trim(preg_replace('/\s+/', ' ', strip_tags(preg_replace('#<(script|style)\b.*?</\1>#si', '', $body))));
    if ($status !== 200 || preg_match('/(Fatal error|Uncaught)/', $body) || !file_exists("$root/app/config/configuration.php")) {
        fail("Chamilo's installer failed (HTTP $status$error): ".substr($page, -1500)."\nserver log: "
            .substr((string) @file_get_contents($log), -1500));
    }
    say(sprintf('the installer finished in %.1f s', microtime(true) - $started));
    $pdo = pdo_connect($a['install_db_host'], $a['install_db_port'], $c['db_user'], $c['db_password'], $c['main_database']);
    verify($pdo, $a);
    $pdo->exec('CREATE TABLE IF NOT EXISTS '.MARKER_TABLE.' (id TINYINT PRIMARY KEY, version VARCHAR(32) NOT NULL, installed_at DATETIME NOT NULL)');
    $pdo->prepare('REPLACE INTO '.MARKER_TABLE.' VALUES (1, ?, NOW())')->execute([$new_version]);
    say("done: admin login '{$a['admin_login']}', password in the stack's secrets/chamilo-install.json");
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
