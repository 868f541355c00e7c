// Boolean query parameters (`watch`, `allowWatchBookmarks`, `sendInitialEvents`,
// `force`, `orphanDependents`) as the real server's parameter codec reads them
// (runtime.Convert_Slice_string_To_bool in k8s.io/apimachinery): only the first
// value counts, and it is false only when it is "0" or "false" in any letter
// case. Anything else is true: "1", "true", the Python client's "True", even an
// empty value ("?watch="). strconv.ParseBool is not what decides here; it only
// reads `pretty`.

/** The parameter's value, or undefined when the query does not carry it. */
export function queryBool(query: URLSearchParams, name: string): boolean | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  return !(v === '0' || v.toLowerCase() === 'false');
}
