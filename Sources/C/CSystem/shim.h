// syncfs(2) is a GNU extension that Swift's Glibc module does not declare.
extern int syncfs(int fd);
// mallopt(3) is declared in <malloc.h>, which Swift's Glibc module does not include.
#include <malloc.h>
