-- One database per business component, each reached by the zhibo user only (its password
-- is MARIADB_PASSWORD; the image creates the user before running this file).
CREATE DATABASE IF NOT EXISTS zhibo_account;
CREATE DATABASE IF NOT EXISTS zhibo_room;
CREATE DATABASE IF NOT EXISTS zhibo_gift;
CREATE DATABASE IF NOT EXISTS zhibo_danmaku;
CREATE DATABASE IF NOT EXISTS zhibo_im_chat;
CREATE DATABASE IF NOT EXISTS zhibo_im_group;
CREATE DATABASE IF NOT EXISTS zhibo_im_notice;
GRANT ALL PRIVILEGES ON zhibo_account.* TO 'zhibo'@'%';
GRANT ALL PRIVILEGES ON zhibo_room.* TO 'zhibo'@'%';
GRANT ALL PRIVILEGES ON zhibo_gift.* TO 'zhibo'@'%';
GRANT ALL PRIVILEGES ON zhibo_danmaku.* TO 'zhibo'@'%';
GRANT ALL PRIVILEGES ON zhibo_im_chat.* TO 'zhibo'@'%';
GRANT ALL PRIVILEGES ON zhibo_im_group.* TO 'zhibo'@'%';
GRANT ALL PRIVILEGES ON zhibo_im_notice.* TO 'zhibo'@'%';
