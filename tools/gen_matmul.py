# Generates engine/src/main/java/io/jvit/engine/Matmul.java from tools/matmul_template.java (run from the repo root).
# The micro-kernel is unrolled by hand because C2 keeps vector locals, not arrays of vectors, in registers.
MR=8
rows=range(MR)
decl="\n".join(f"        FloatVector c{r}0 = z, c{r}1 = z;" for r in rows)
loop=[]
for r in rows:
    loop.append(f"            av = FloatVector.broadcast(F, a.get(JAVA_FLOAT_UNALIGNED, ak + {r} * lda));")
    loop.append(f"            c{r}0 = av.fma(b0, c{r}0);")
    loop.append(f"            c{r}1 = av.fma(b1, c{r}1);")
loop="\n".join(loop)
epi="\n".join(f"        c{r}0.add(bias0).intoMemorySegment(c, cOff + {r} * ldc, NATIVE);\n        c{r}1.add(bias1).intoMemorySegment(c, cOff + {r} * ldc + LANES * 4L, NATIVE);" for r in rows)
resid="\n".join(f"        c{r}0 = c{r}0.add(FloatVector.fromMemorySegment(F, c, cOff + {r} * ldc, NATIVE));\n        c{r}1 = c{r}1.add(FloatVector.fromMemorySegment(F, c, cOff + {r} * ldc + LANES * 4L, NATIVE));" for r in rows)
src=open('tools/matmul_template.java').read()
src=src.replace('@@MR@@',str(MR)).replace('@@DECL@@',decl).replace('@@LOOP@@',loop).replace('@@EPI@@',epi).replace('@@RESID@@',resid)
open("engine/src/main/java/io/jvit/engine/Matmul.java","w").write(src)
