# Generates engine/src/main/java/io/jvit/engine/Matmul.java from tools/matmul_template.java (run from the repo root).
# The micro-kernel is unrolled by hand because C2 keeps vector locals, not arrays of vectors, in registers.
#
# Tile shape MR rows x NV vectors (tools/matmul_shapes.txt has the measurements behind the choice):
# 6 x 4 keeps 24 accumulators + 4 panel vectors + 1 broadcast in the 32 zmm registers and needs one
# broadcast of A per 4 FMAs; 8 x 2 needs one per 2, and each broadcast is a bounds-checked load at
# its own row offset, which made the 8 x 2 kernel issue-bound at ~65% of peak.
MR = 6
NV = 4
rows = range(MR)
vecs = range(NV)

def off(v):
    return "" if v == 0 else f" + {v} * LANES * 4L"

decl = "\n".join("        FloatVector " + ", ".join(f"c{r}{v} = z" for v in vecs) + ";" for r in rows)
bload = "\n".join(f"            FloatVector b{v} = FloatVector.fromMemorySegment(F, b, bk{off(v)}, NATIVE);" for v in vecs)
loop = []
for r in rows:
    loop.append(f"            av = FloatVector.broadcast(F, a.get(JAVA_FLOAT_UNALIGNED, ak + {r} * lda));")
    for v in vecs:
        loop.append(f"            c{r}{v} = av.fma(b{v}, c{r}{v});")
epi = "\n".join(f"        c{r}{v}.intoMemorySegment(c, cOff + {r} * ldc{off(v)}, NATIVE);" for r in rows for v in vecs)
decl1 = "        FloatVector z = FloatVector.zero(F);\n        FloatVector " + ", ".join(f"c{r}0 = z" for r in rows) + ";"
loop1 = "\n".join(f"            c{r}0 = FloatVector.broadcast(F, a.get(JAVA_FLOAT_UNALIGNED, ak + {r} * lda)).fma(b0, c{r}0);" for r in rows)
epi1 = "\n".join(f"        c{r}0.intoMemorySegment(c, cOff + {r} * ldc, NATIVE);" for r in rows)
src = open('tools/matmul_template.java').read()
for k, v in {'@@MR@@': str(MR), '@@NV@@': str(NV), '@@DECL@@': decl, '@@BLOAD@@': bload, '@@LOOP@@': "\n".join(loop),
             '@@EPI@@': epi, '@@DECL1@@': decl1, '@@LOOP1@@': loop1, '@@EPI1@@': epi1}.items():
    src = src.replace(k, v)
assert '@@' not in src
open("engine/src/main/java/io/jvit/engine/Matmul.java", "w").write(src)
