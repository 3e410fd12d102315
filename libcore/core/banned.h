/* SPDX-License-Identifier: MIT */
/*
 * banned.h --- functions we never call (after git's banned.h).
 *
 * Each becomes a compile error that names the reason.
 */
#ifndef CORE_BANNED_H
#define CORE_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y)		BANNED(strcpy)
#undef strcat
#define strcat(x, y)		BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n)	BANNED(strncpy)
#undef strtok
#define strtok(x, y)		BANNED(strtok)
#undef gets
#define gets(x)			BANNED(gets)
#undef atoi
#define atoi(x)			BANNED(atoi)
#undef sprintf
#define sprintf(...)		BANNED(sprintf)
#undef vsprintf
#define vsprintf(...)		BANNED(vsprintf)

#endif /* CORE_BANNED_H */
