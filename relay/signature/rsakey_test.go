package signature

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"
)

// stdlibVerify is the reference the prepared path must agree with.
func stdlibVerify(pub *rsa.PublicKey, hashed, sig []byte) bool {
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, hashed, sig) == nil
}

// rawSign returns m^d mod N as a k-byte signature: the RSA private
// operation on an arbitrary encoded message, to build signatures over
// malformed encodings that no signer would produce.
func rawSign(priv *rsa.PrivateKey, em []byte) []byte {
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), priv.D, priv.N)
	return s.FillBytes(make([]byte, priv.Size()))
}

// encoded builds the PKCS#1 v1.5 encoding 00 01 PS 00 prefix hash for a
// k-byte modulus, PS of 0xff.
func encoded(k int, prefix, hash []byte) []byte {
	em := make([]byte, k)
	em[1] = 1
	t := append(append([]byte{}, prefix...), hash...)
	for i := 2; i < k-len(t)-1; i++ {
		em[i] = 0xff
	}
	copy(em[k-len(t):], t)
	return em
}

var (
	sizedKeysOnce sync.Once
	sizedKeys     []*rsa.PrivateKey
)

// keysOfSizes returns keys of every size the prepared path takes, and one
// (1024 bits) it leaves to crypto/rsa.
func keysOfSizes(t testing.TB) []*rsa.PrivateKey {
	sizedKeysOnce.Do(func() {
		for _, bits := range []int{1024, 2048, 3072, 4096} {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			sizedKeys = append(sizedKeys, k)
		}
	})
	return sizedKeys
}

func TestPreparedRSAAgreesWithStdlib(t *testing.T) {
	for _, priv := range keysOfSizes(t) {
		pub := &priv.PublicKey
		if got, want := preparedRSA(pub) != nil, priv.N.BitLen() >= 2048; got != want {
			t.Fatalf("%d-bit key: prepared = %v, want %v", priv.N.BitLen(), got, want)
		}
		hashed := sha256.Sum256([]byte("hello"))
		sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, hashed[:])
		if err != nil {
			t.Fatal(err)
		}
		other := sha256.Sum256([]byte("hellp"))
		nb := priv.N.FillBytes(make([]byte, priv.Size()))
		nPlus := new(big.Int).Add(priv.N, big.NewInt(1)).FillBytes(make([]byte, priv.Size()))
		nMinus := new(big.Int).Sub(priv.N, big.NewInt(1)).FillBytes(make([]byte, priv.Size()))
		cases := map[string]struct {
			hashed, sig []byte
			valid       bool
		}{
			"valid":             {hashed[:], sig, true},
			"other digest":      {other[:], sig, false},
			"short digest":      {hashed[:31], sig, false},
			"truncated":         {hashed[:], sig[:len(sig)-1], false},
			"leading zero byte": {hashed[:], append([]byte{0}, sig...), false},
			"empty":             {hashed[:], nil, false},
			"zero":              {hashed[:], make([]byte, len(sig)), false},
			"one":               {hashed[:], append(make([]byte, len(sig)-1), 1), false},
			"N":                 {hashed[:], nb, false},
			"N+1":               {hashed[:], nPlus, false},
			"N-1":               {hashed[:], nMinus, false},
			"all ff":            {hashed[:], bytes.Repeat([]byte{0xff}, len(sig)), false},
		}
		for _, bit := range []int{0, 7, 8, 100, len(sig)*8 - 1} {
			flipped := bytes.Clone(sig)
			flipped[bit/8] ^= 1 << (bit % 8)
			cases["bit "+itoa(bit)+" flipped"] = struct {
				hashed, sig []byte
				valid       bool
			}{hashed[:], flipped, false}
		}
		for name, c := range cases {
			got, want := VerifyPKCS1v15SHA256(pub, c.hashed, c.sig), stdlibVerify(pub, c.hashed, c.sig)
			if got != want || got != c.valid {
				t.Errorf("%d-bit key, %s: prepared %v, crypto/rsa %v, want %v", priv.N.BitLen(), name, got, want, c.valid)
			}
		}
	}
}

// TestPreparedRSARefusesMalformedEncodings signs encoded messages that are
// almost right (the shapes behind past PKCS#1 v1.5 forgeries and lenient
// parsers) and checks that only the exact encoding verifies.
func TestPreparedRSARefusesMalformedEncodings(t *testing.T) {
	priv := keysOfSizes(t)[1]
	pub := &priv.PublicKey
	k := priv.Size()
	h := sha256.Sum256([]byte("activity"))
	good := encoded(k, sha256DigestInfo, h[:])
	noNull := []byte{0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x04, 0x20}
	sha1Info := []byte{0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14}
	mutate := func(f func(em []byte)) []byte { em := bytes.Clone(good); f(em); return em }
	cases := map[string][]byte{
		"exact encoding (control)": good,
		"block type 2":             mutate(func(em []byte) { em[1] = 2 }),
		"one PS byte not ff":       mutate(func(em []byte) { em[20] = 0xfe }),
		"separator not zero":       mutate(func(em []byte) { em[k-len(sha256DigestInfo)-33] = 0xff }),
		"block type 0":             mutate(func(em []byte) { em[1] = 0 }),
		// Bleichenbacher 2006: short padding, the hash, then garbage a
		// lax parser ignores.
		"garbage after the digest": func() []byte {
			em := make([]byte, k)
			em[1] = 1
			for i := 2; i < 10; i++ {
				em[i] = 0xff
			}
			copy(em[11:], sha256DigestInfo)
			copy(em[11+len(sha256DigestInfo):], h[:])
			for i := 11 + len(sha256DigestInfo) + 32; i < k; i++ {
				em[i] = 0x42
			}
			return em
		}(),
		"DigestInfo without NULL parameters": encoded(k, noNull, h[:]),
		"SHA-1 DigestInfo":                   encoded(k, sha1Info, h[:20]),
		"other digest":                       encoded(k, sha256DigestInfo, bytes.Repeat([]byte{1}, 32)),
	}
	for name, em := range cases {
		sig := rawSign(priv, em)
		got, want := VerifyPKCS1v15SHA256(pub, h[:], sig), stdlibVerify(pub, h[:], sig)
		valid := name == "exact encoding (control)"
		if got != want || got != valid {
			t.Errorf("%s: prepared %v, crypto/rsa %v, want %v", name, got, want, valid)
		}
	}
}

// TestPreparedRSAFollowsAChangedKey: a key changed after it was prepared
// is checked against what it is now, never against the stale modulus.
func TestPreparedRSAFollowsAChangedKey(t *testing.T) {
	keys := keysOfSizes(t)
	a, b := keys[1], keys[2]
	pub := &rsa.PublicKey{N: new(big.Int).Set(a.N), E: a.E}
	h := sha256.Sum256([]byte("x"))
	sigA, _ := rsa.SignPKCS1v15(nil, a, crypto.SHA256, h[:])
	sigB, _ := rsa.SignPKCS1v15(nil, b, crypto.SHA256, h[:])
	if !VerifyPKCS1v15SHA256(pub, h[:], sigA) {
		t.Fatal("a's signature does not verify with a's key")
	}
	pub.N.Set(b.N)
	if VerifyPKCS1v15SHA256(pub, h[:], sigA) {
		t.Fatal("a's signature verifies after the key became b's")
	}
	if !VerifyPKCS1v15SHA256(pub, h[:], sigB) {
		t.Fatal("b's signature does not verify after the key became b's")
	}
}

// TestPreparedKeysAreForgotten: the prepared form lives only as long as
// the key, so a node that has seen a million actors does not keep a million
// moduli.
func TestPreparedKeysAreForgotten(t *testing.T) {
	priv := keysOfSizes(t)[1]
	pub := &rsa.PublicKey{N: new(big.Int).Set(priv.N), E: priv.E}
	if preparedRSA(pub) == nil {
		t.Fatal("2048-bit key not prepared")
	}
	w := weak.Make(pub)
	if _, ok := rsaKeys.Load(w); !ok {
		t.Fatal("prepared key not remembered")
	}
	pub = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		if _, ok := rsaKeys.Load(w); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("prepared key still remembered 10 s after the key became garbage")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPreparedRSAConcurrentUse(t *testing.T) {
	priv := keysOfSizes(t)[1]
	h := sha256.Sum256([]byte("y"))
	sig, _ := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, h[:])
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pub := &rsa.PublicKey{N: priv.N, E: priv.E} // a fresh key each round: prepare races with prepare
			for i := 0; i < 20; i++ {
				if !VerifyPKCS1v15SHA256(pub, h[:], sig) {
					t.Error("valid signature refused")
					return
				}
				if i%5 == 4 {
					pub = &rsa.PublicKey{N: priv.N, E: priv.E}
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzVerifyRSA checks that the prepared path gives crypto/rsa's answer on
// any input. With asEncoding set, data is taken as an encoded message and
// signed raw, so the fuzzer explores near-valid encodings too, which random
// signatures would never reach.
func FuzzVerifyRSA(f *testing.F) {
	priv := keysOfSizes(f)[1]
	pub := &priv.PublicKey
	h := sha256.Sum256([]byte("fuzz"))
	good := encoded(priv.Size(), sha256DigestInfo, h[:])
	sig, _ := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, h[:])
	f.Add(sig, false)
	f.Add(good, true)
	f.Add(good[:len(good)-1], true)
	f.Fuzz(func(t *testing.T, data []byte, asEncoding bool) {
		if asEncoding {
			if len(data) > priv.Size() {
				data = data[:priv.Size()]
			}
			em := make([]byte, priv.Size())
			copy(em[priv.Size()-len(data):], data)
			if new(big.Int).SetBytes(em).Cmp(priv.N) >= 0 {
				return
			}
			data = rawSign(priv, em)
		}
		if got, want := VerifyPKCS1v15SHA256(pub, h[:], data), stdlibVerify(pub, h[:], data); got != want {
			t.Fatalf("prepared %v, crypto/rsa %v for %x (asEncoding %v)", got, want, data, asEncoding)
		}
	})
}

// BenchmarkVerifyRSA compares one RSA-2048 verification through crypto/rsa
// with the prepared path on a warm key.
func BenchmarkVerifyRSA(b *testing.B) {
	priv := keysOfSizes(b)[1]
	pub := &priv.PublicKey
	h := sha256.Sum256([]byte("bench"))
	sig, _ := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, h[:])
	b.Run("crypto-rsa", func(b *testing.B) {
		for b.Loop() {
			if !stdlibVerify(pub, h[:], sig) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("prepared", func(b *testing.B) {
		for b.Loop() {
			if !VerifyPKCS1v15SHA256(pub, h[:], sig) {
				b.Fatal("refused")
			}
		}
	})
}
