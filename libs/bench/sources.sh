# shellcheck shell=bash
# Helpers the GPU benchmark scripts share for building libraries from source (sourced, not run).

# copy_sources FROM TO: pointops, pointgroup_ops and, where FROM has it, common (the build rules
# this repository's two libraries share; Pointcept's libs/ has none) from FROM into TO, without
# what an earlier build left there (build/, *.egg-info, *.so, __pycache__), so that nothing of it
# is reused.
copy_sources() {
  local from=$1 to=$2 lib
  for lib in pointops pointgroup_ops common; do
    [[ -d $from/$lib ]] || continue
    mkdir -p "$to/$lib"
    tar -C "$from/$lib" --exclude=./build --exclude='*.egg-info' --exclude='*.so' --exclude=__pycache__ -cf - . |
      tar -C "$to/$lib" -xf -
  done
}

# sparsehash_stand_in DIR: makes DIR/stand-in/google/dense_hash_map, an empty header, and prints
# DIR/stand-in. Pointcept's pointgroup_ops includes <google/dense_hash_map> without using it: with
# that folder on CPATH it builds where sparsehash is not installed.
sparsehash_stand_in() {
  mkdir -p "$1/stand-in/google"
  : >"$1/stand-in/google/dense_hash_map"
  echo "$1/stand-in"
}
