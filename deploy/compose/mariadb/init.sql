-- One database per business component, each reached by the zhibo user only (its password
-- is MARIADB_PASSWORD; the image creates the user before running this file).
CREATE DATABASE IF NOT EXISTS zhibo_account;
CREATE DATABASE IF NOT EXISTS zhibo_room;
CREATE DATABASE IF NOT EXISTS zhibo_gift;
CREATE DATABASE IF NOT EXISTS zhibo_danmaku;
GRANT ALL PRIVILEGES ON zhibo_account.* TO 'zhibo'@'%';
GRANT ALL PRIVILEGES ON zhibo_room.* TO 'zhibo'@'%';
GRANT ALL PRIVILEGES ON zhibo_gift.* TO 'zhibo'@'%';
GRANT ALL PRIVILEGES ON zhibo_danmaku.* TO 'zhibo'@'%';
