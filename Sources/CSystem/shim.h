// syncfs(2) is a GNU extension that Swift's Glibc module does not declare.
extern int syncfs(int fd);
