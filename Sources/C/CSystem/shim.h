// syncfs(2) is a GNU extension that Swift's Glibc module does not declare.
extern int syncfs(int fd);
// mallopt(3) is declared in <malloc.h>, which Swift's Glibc module does not include.
#include <malloc.h>
// renameat2(2) (glibc 2.28) is declared only under _GNU_SOURCE, which Swift's Glibc module does not set.
extern int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
// pipe2(2) is declared only under _GNU_SOURCE, which Swift's Glibc module does not set.
extern int pipe2(int pipefd[2], int flags);
// sched_getaffinity(2) is declared only under _GNU_SOURCE, with cpu_set_t; here with the mask as
// plain bytes (the kernel's form: a bit per processor).
#include <stddef.h>
extern int sched_getaffinity(int pid, size_t cpusetsize, void *mask);
