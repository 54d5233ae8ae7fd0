-- schema.sql: the slice of Chamilo 1.11's schema that the probe pages touch, plus the probe's
-- own table. Why: the lab measures what Chamilo's queries see through the proxies, so the
-- tables keep Chamilo's names and columns (from its Doctrine entities User, Course, CTool,
-- TrackELogin, TrackEOnline), trimmed to what matters. Every table has a PRIMARY KEY (Galera
-- replicates row events by key; tables without one replicate badly or not at all).
-- Idempotent: safe to apply on every `up`. Applied to the current database (the runtime
-- selects it); seed rows use explicit ids because Galera's auto-increment control makes
-- generated ids start above 1 (chamilo/chamilo-lms#2010).

CREATE TABLE IF NOT EXISTS `user` (
  `id` int NOT NULL AUTO_INCREMENT,
  `user_id` int DEFAULT NULL,
  `username` varchar(100) NOT NULL,
  `username_canonical` varchar(100) NOT NULL,
  `email` varchar(100) NOT NULL,
  `email_canonical` varchar(100) NOT NULL,
  `lastname` varchar(60) DEFAULT NULL,
  `firstname` varchar(60) DEFAULT NULL,
  `password` varchar(255) NOT NULL,
  `salt` varchar(255) NOT NULL,
  `auth_source` varchar(50) DEFAULT NULL,
  `status` int NOT NULL,
  `official_code` varchar(40) DEFAULT NULL,
  `language` varchar(40) DEFAULT NULL,
  `registration_date` datetime NOT NULL,
  `expiration_date` datetime DEFAULT NULL,
  `active` tinyint(1) NOT NULL,
  `locked` tinyint(1) NOT NULL DEFAULT 0,
  `enabled` tinyint(1) NOT NULL DEFAULT 1,
  `expired` tinyint(1) NOT NULL DEFAULT 0,
  `credentials_expired` tinyint(1) NOT NULL DEFAULT 0,
  `last_login` datetime DEFAULT NULL,
  `roles` longtext NOT NULL COMMENT '(DC2Type:array)',
  `created_at` datetime DEFAULT NULL,
  `updated_at` datetime DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `UNIQ_8D93D649F85E0677` (`username`),
  KEY `idx_user_uid` (`user_id`),
  KEY `status` (`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `course` (
  `id` int NOT NULL AUTO_INCREMENT,
  `title` varchar(250) DEFAULT NULL,
  `code` varchar(40) NOT NULL,
  `directory` varchar(40) DEFAULT NULL,
  `course_language` varchar(20) DEFAULT NULL,
  `description` longtext DEFAULT NULL,
  `category_code` varchar(40) DEFAULT NULL,
  `visibility` int DEFAULT NULL,
  `show_score` int DEFAULT NULL,
  `tutor_name` varchar(200) DEFAULT NULL,
  `visual_code` varchar(40) DEFAULT NULL,
  `department_name` varchar(30) DEFAULT NULL,
  `department_url` varchar(180) DEFAULT NULL,
  `disk_quota` bigint DEFAULT NULL,
  `last_visit` datetime DEFAULT NULL,
  `last_edit` datetime DEFAULT NULL,
  `creation_date` datetime DEFAULT NULL,
  `expiration_date` datetime DEFAULT NULL,
  `subscribe` tinyint(1) DEFAULT NULL,
  `unsubscribe` tinyint(1) DEFAULT NULL,
  `registration_code` varchar(255) DEFAULT NULL,
  `legal` longtext DEFAULT NULL,
  `activate_legal` int DEFAULT NULL,
  `course_type_id` int DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `UNIQ_169E6FB977153098` (`code`),
  KEY `category_code` (`category_code`),
  KEY `directory` (`directory`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `c_tool` (
  `iid` int NOT NULL AUTO_INCREMENT,
  `id` int DEFAULT NULL,
  `c_id` int NOT NULL,
  `name` varchar(255) NOT NULL,
  `link` varchar(255) NOT NULL,
  `image` varchar(255) DEFAULT NULL,
  `visibility` tinyint(1) DEFAULT NULL,
  `admin` varchar(255) DEFAULT NULL,
  `address` varchar(255) DEFAULT NULL,
  `added_tool` tinyint(1) DEFAULT NULL,
  `target` varchar(20) NOT NULL,
  `category` varchar(20) NOT NULL DEFAULT 'authoring',
  `session_id` int DEFAULT 0,
  `description` longtext DEFAULT NULL,
  `custom_icon` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`iid`),
  KEY `course` (`c_id`),
  KEY `session_id` (`session_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `track_e_login` (
  `login_id` int NOT NULL AUTO_INCREMENT,
  `login_user_id` int NOT NULL,
  `login_date` datetime NOT NULL,
  `user_ip` varchar(39) NOT NULL,
  `logout_date` datetime DEFAULT NULL,
  PRIMARY KEY (`login_id`),
  KEY `login_user_id` (`login_user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `track_e_online` (
  `login_id` int NOT NULL AUTO_INCREMENT,
  `login_user_id` int NOT NULL,
  `login_date` datetime NOT NULL,
  `user_ip` varchar(39) NOT NULL,
  `c_id` int NOT NULL,
  `session_id` int NOT NULL,
  `access_url_id` int NOT NULL,
  PRIMARY KEY (`login_id`),
  KEY `course` (`c_id`),
  KEY `login_user_id` (`login_user_id`),
  KEY `session_id` (`session_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Not Chamilo: the read-your-writes probe (rw.php) writes one token per request here.
CREATE TABLE IF NOT EXISTS `lab_probe` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `token` char(32) NOT NULL,
  `written_at` datetime(6) NOT NULL,
  `written_by` varchar(64) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `token` (`token`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Seed. The admin password is '*', which no hash matches: the probe never checks passwords.
INSERT IGNORE INTO `user` (`id`, `user_id`, `username`, `username_canonical`, `email`,
  `email_canonical`, `lastname`, `firstname`, `password`, `salt`, `auth_source`, `status`,
  `official_code`, `language`, `registration_date`, `active`, `roles`, `created_at`)
VALUES (1, 1, 'admin', 'admin', 'admin@example.org', 'admin@example.org', 'Lab', 'Admin', '*',
  '', 'platform', 1, 'ADMIN', 'english', '2024-01-01 00:00:00', 1, 'a:0:{}', '2024-01-01 00:00:00');

INSERT IGNORE INTO `course` (`id`, `title`, `code`, `directory`, `course_language`, `description`,
  `category_code`, `visibility`, `show_score`, `visual_code`, `disk_quota`, `creation_date`,
  `subscribe`, `unsubscribe`, `course_type_id`)
VALUES (1, 'Demo course', 'DEMO', 'DEMO', 'english', 'Course used by the galera-ha-lab probe.',
  NULL, 2, 1, 'DEMO', 100000000, '2024-01-01 00:00:00', 1, 0, 1);

INSERT IGNORE INTO `c_tool` (`iid`, `id`, `c_id`, `name`, `link`, `image`, `visibility`, `admin`,
  `address`, `added_tool`, `target`, `category`, `session_id`)
VALUES
  (1, 1, 1, 'course_description', 'course_description/', 'info.gif', 1, '0', 'squaregrey.gif', 0, '_self', 'authoring', 0),
  (2, 2, 1, 'document', 'document/document.php', 'folder_document.gif', 1, '0', 'squaregrey.gif', 0, '_self', 'authoring', 0),
  (3, 3, 1, 'learnpath', 'lp/lp_controller.php', 'scorms.gif', 1, '0', 'squaregrey.gif', 0, '_self', 'authoring', 0),
  (4, 4, 1, 'quiz', 'exercise/exercise.php', 'quiz.gif', 1, '0', 'squaregrey.gif', 0, '_self', 'authoring', 0),
  (5, 5, 1, 'forum', 'forum/index.php', 'forum.gif', 1, '0', 'squaregrey.gif', 0, '_self', 'interaction', 0);
