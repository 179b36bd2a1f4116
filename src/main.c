#include <stdio.h>
int main(void)
{
    puts("mitmc");
    return 0;
}
