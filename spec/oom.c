/* A Lua module for spec/lua_errors_spec.lua: `require 'oom'` wraps
 * LuaJIT's allocator so that a spec can run code with Lua's memory
 * exhausted while malloc (which Rust and libuv use) still has plenty.
 * A refused allocation returns NULL, as it would with the memory really
 * gone, and LuaJIT raises "not enough memory".
 *
 *   oom.cap(n)          from now on the Lua heap may grow by n bytes more
 *   oom.refuse_over(n)  refuse every allocation of more than n bytes
 *   oom.lift()          take both limits away
 *   oom.refused()       how many allocations were refused so far
 *
 * The spec builds it with `cc -shared -fPIC -Wl,-z,nodelete` (never
 * unloaded: the allocator must outlive the Lua state, which frees its last
 * memory after closing the C modules). The few Lua API functions it uses
 * are declared here and resolved against the luajit executable. */
#include <stddef.h>

typedef struct lua_State lua_State;
typedef void *(*lua_Alloc)(void *ud, void *ptr, size_t osize, size_t nsize);
typedef int (*lua_CFunction)(lua_State *L);
lua_Alloc lua_getallocf(lua_State *L, void **ud);
void lua_setallocf(lua_State *L, lua_Alloc f, void *ud);
void lua_createtable(lua_State *L, int narr, int nrec);
void lua_pushcclosure(lua_State *L, lua_CFunction f, int n);
void lua_setfield(lua_State *L, int index, const char *k);
void lua_pushnumber(lua_State *L, double n);
double lua_tonumber(lua_State *L, int index);

static lua_Alloc inner;
static void *inner_ud;
/* Bytes allocated since the module was loaded, less those freed (negative
 * when more old memory was freed than new allocated). */
static long long in_use;
static int capped;
static long long cap;  /* in_use may not pass it while capped */
static int bounded;
static long long largest;  /* the largest allocation allowed while bounded */
static long long refused;

static void *limited(void *ud, void *ptr, size_t osize, size_t nsize) {
  long long old = ptr ? (long long)osize : 0;
  long long growth = (long long)nsize - old;
  void *result;
  (void)ud;
  if (growth > 0 && ((capped && in_use + growth > cap) || (bounded && (long long)nsize > largest))) {
    refused++;
    return NULL;
  }
  result = inner(inner_ud, ptr, osize, nsize);
  if (result != NULL || nsize == 0) in_use += growth;
  return result;
}

static int set_cap(lua_State *L) {
  capped = 1;
  cap = in_use + (long long)lua_tonumber(L, 1);
  return 0;
}

static int refuse_over(lua_State *L) {
  bounded = 1;
  largest = (long long)lua_tonumber(L, 1);
  return 0;
}

static int lift(lua_State *L) {
  (void)L;
  capped = bounded = 0;
  return 0;
}

static int get_refused(lua_State *L) {
  lua_pushnumber(L, (double)refused);
  return 1;
}

int luaopen_oom(lua_State *L) {
  if (inner == NULL) {
    inner = lua_getallocf(L, &inner_ud);
    lua_setallocf(L, limited, NULL);
  }
  lua_createtable(L, 0, 4);
  lua_pushcclosure(L, set_cap, 0);
  lua_setfield(L, -2, "cap");
  lua_pushcclosure(L, refuse_over, 0);
  lua_setfield(L, -2, "refuse_over");
  lua_pushcclosure(L, lift, 0);
  lua_setfield(L, -2, "lift");
  lua_pushcclosure(L, get_refused, 0);
  lua_setfield(L, -2, "refused");
  return 1;
}
