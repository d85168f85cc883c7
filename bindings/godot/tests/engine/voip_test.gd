extends Node
## The binding inside a real Godot 4 engine: two VoipChat nodes join one room on a running
## relay, see each other arrive, one talks (a tone played into its capture bus, where a
## microphone would play) and the other hears it through its playback bus; a badly signed
## join fails with -1002 through the signals; both leave.
##
## Run by bindings/godot/test.sh with the relay's address, certificate pin and app secret as
## user arguments:
##     godot --headless --path PROJECT res://tests/engine/voip_test.tscn -- \
##         --server=127.0.0.1:PORT --cert=HEX --app-id=ID --app-secret=SECRET
## Prints one line per check and closes with "godot: N passed, N failed"; exits non-zero when
## anything failed or did not happen in time.

## Longest wait for one expected event (join result, members, audio), in seconds.
const EVENT_TIMEOUT_S := 10.0
## Whole-test watchdog, in seconds: nothing may hang the test command.
const TEST_TIMEOUT_S := 60.0
## The bus the test listens on: Bob's call mix plays here, into an AudioEffectCapture.
const HEARD_BUS := "VoipTestHeard"
## The bus of the player Alice is attached to on Bob's side.
const ALONE_BUS := "VoipTestAlone"
## How long a check of silence listens (and first lets queued audio drain), in seconds: well
## over the playback latency (60 ms) and a talkspurt's pause (300 ms).
const SETTLE_S := 1.0
## Peak of the tone's fundamental; with its harmonics the tone peaks near 0.2 (-14 dBFS).
const TONE_AMPLITUDE := 0.125
## Heard audio counts as sound above this RMS, per frame: silence is 0, the tone while it
## sounds about 0.1.
const HEARD_RMS_MIN := 0.01

var passed := 0
var failed := 0
var options := {}
## Signals as they arrive, per node name: [signal name, arguments...].
var events := {}


func _ready() -> void:
	options = _user_options()
	for key: String in ["server", "cert", "app-id", "app-secret"]:
		if not options.has(key):
			printerr("voip_test: missing user argument --%s=..." % key)
			get_tree().quit(2)
			return
	get_tree().create_timer(TEST_TIMEOUT_S).timeout.connect(_on_watchdog)
	await _run()
	print("godot: %d passed, %d failed" % [passed, failed])
	get_tree().quit(0 if failed == 0 else 1)


func _run() -> void:
	check(ClassDB.class_exists("VoipChat"), "the extension registered the VoipChat class")
	if not ClassDB.class_exists("VoipChat"):
		return
	var heard := _make_capture_bus(HEARD_BUS)

	var alice := _make_node("Alice", true, false)
	var bob := _make_node("Bob", false, true)
	bob.playback_bus = HEARD_BUS
	add_child(alice)
	add_child(bob)
	var tone := _play_tone_into(alice.capture_bus)

	# The microphone's processing, as a game sets it before joining (all on is the default).
	check(
		alice.set_audio_processing(true, VoipChat.NOISE_SUPPRESSION_HIGH, true),
		"set_audio_processing takes a NOISE_SUPPRESSION_* level"
	)
	var processing: Dictionary = alice.get_audio_processing()
	check(
		processing.get("noise_suppression") == VoipChat.NOISE_SUPPRESSION_HIGH,
		"get_audio_processing reports it: %s" % [processing]
	)

	var group_id := "godot-engine-test-%d" % Time.get_ticks_usec()
	alice.join(_signed("alice", group_id))
	var joined: Dictionary = await alice.join_completed
	check(joined.get("errCode") == 0, "alice joined: %s" % [joined])
	check(joined.get("openIdList") == PackedStringArray(["alice"]), "alice is alone in the room")
	check(alice.get_state() == VoipChat.STATE_JOINED, "alice's state is STATE_JOINED")

	bob.join(_signed("bob", group_id))
	joined = await bob.join_completed
	check(joined.get("errCode") == 0, "bob joined: %s" % [joined])
	var both := PackedStringArray(["alice", "bob"])
	check(_sorted(joined.get("openIdList", [])) == both, "bob's join lists alice and bob")
	check(
		await _until(func() -> bool: return _last_members("Alice") == both),
		"alice's members_changed reports alice and bob"
	)

	# A join whose signature does not match: the error arrives through the signals.
	var mallory := _make_node("Mallory", false, false)
	add_child(mallory)
	var forged := _signed("mallory", group_id)
	forged["signature"] = "0".repeat(64)
	mallory.join(forged)
	var refused: Dictionary = await mallory.join_completed
	check(
		refused.get("errCode") == -1002, "a forged signature is refused with -1002: %s" % [refused]
	)
	check(_has_event("Mallory", "join_failed", -1002), "join_failed carried -1002")
	check(not mallory.is_in_call(), "the refused node is not in a call")

	# Alice talks: Bob hears sound on his playback bus, and sees her speaking.
	check(await _hears(heard), "bob hears alice through his playback bus")
	var received := _received_from(bob.get_stats(), "alice")
	check(received > 0, "bob's stats count %d packets from alice" % received)
	check(
		await _until(func() -> bool: return bob.get_speakers().has("alice")),
		"bob's speakers_changed lists alice"
	)

	# Alice alone, through a player of the game's (as for positional voice): she leaves the
	# mix while attached, and returns to it when detached.
	var alone := _make_capture_bus(ALONE_BUS)
	var player := AudioStreamPlayer.new()
	player.bus = ALONE_BUS
	add_child(player)
	check(bob.attach_member("alice", player), "attach_member takes an AudioStreamPlayer")
	check(await _hears(alone), "alice plays through the attached player")
	await _loudest_over(heard, SETTLE_S)
	var mix_while_attached := await _loudest_over(heard, SETTLE_S)
	check(
		mix_while_attached < HEARD_RMS_MIN,
		"alice is out of the mix while attached (RMS %.4f)" % mix_while_attached
	)
	bob.detach_member("alice")
	check(await _hears(heard), "alice is back in the mix after detach_member")
	tone.stop()

	alice.exit()
	var left: Dictionary = await alice.exit_completed
	check(left.get("errCode") == 0, "alice left: %s" % [left])
	check(
		await _until(func() -> bool: return _last_members("Bob") == PackedStringArray(["bob"])),
		"bob's members_changed reports alice gone"
	)
	bob.exit()
	left = await bob.exit_completed
	check(left.get("errCode") == 0, "bob left: %s" % [left])
	check(bob.get_state() == VoipChat.STATE_LEFT, "bob's state is STATE_LEFT")


func check(ok: bool, what: String) -> void:
	if ok:
		passed += 1
		print("ok: ", what)
	else:
		failed += 1
		printerr("FAIL: ", what)


func _on_watchdog() -> void:
	printerr("FAIL: the test did not finish within %d s" % TEST_TIMEOUT_S)
	print("godot: %d passed, %d failed" % [passed, failed + 1])
	get_tree().quit(1)


## Waits, frame by frame, until `condition` holds or EVENT_TIMEOUT_S passes.
func _until(condition: Callable) -> bool:
	var deadline := Time.get_ticks_msec() + EVENT_TIMEOUT_S * 1000.0
	while Time.get_ticks_msec() < deadline:
		if condition.call():
			return true
		await get_tree().process_frame
	return condition.call()


func _make_node(node_name: String, microphone: bool, playback: bool) -> VoipChat:
	var node := VoipChat.new()
	node.name = node_name
	node.microphone = microphone
	node.playback = playback
	node.server = options["server"]
	node.server_cert_sha256 = options["cert"]
	node.app_id = options["app-id"]
	events[node_name] = []
	for signal_name: String in [
		"join_failed", "members_changed", "speakers_changed", "interrupted", "state_changed"
	]:
		node.connect(signal_name, _record.bind(node_name, signal_name))
	return node


## Signal handlers get the signal's arguments first, then the bound node and signal names.
func _record(a: Variant, b: Variant = null, c: Variant = null, d: Variant = null) -> void:
	var args := [a, b, c, d].filter(func(x: Variant) -> bool: return x != null)
	var signal_name: String = args.pop_back()
	var node_name: String = args.pop_back()
	events[node_name].append([signal_name] + args)


func _has_event(node_name: String, signal_name: String, first_arg: Variant) -> bool:
	for event: Array in events[node_name]:
		if event[0] == signal_name and event[1] == first_arg:
			return true
	return false


func _last_members(node_name: String) -> PackedStringArray:
	var last := PackedStringArray()
	for event: Array in events[node_name]:
		if event[0] == "members_changed":
			last = _sorted(event[1])
	return last


func _sorted(list: Variant) -> PackedStringArray:
	var sorted := PackedStringArray(list)
	sorted.sort()
	return sorted


## `voip_stats_json`'s members are keyed by openId.
func _received_from(stats: Dictionary, open_id: String) -> int:
	var member: Dictionary = stats.get("members", {}).get(open_id, {})
	return int(member.get("packetsReceived", 0))


## A bus with a capture effect the test reads what plays on it from.
func _make_capture_bus(bus_name: String) -> AudioEffectCapture:
	AudioServer.add_bus()
	var bus := AudioServer.get_bus_count() - 1
	AudioServer.set_bus_name(bus, bus_name)
	var capture := AudioEffectCapture.new()
	capture.buffer_length = 0.5
	AudioServer.add_bus_effect(bus, capture)
	return capture


## Whether sound (above HEARD_RMS_MIN) arrives on `capture` within EVENT_TIMEOUT_S.
func _hears(capture: AudioEffectCapture) -> bool:
	capture.clear_buffer()
	return await _until(func() -> bool: return _rms_of(capture) >= HEARD_RMS_MIN)


## The loudest frame on `capture` over the next `seconds`.
func _loudest_over(capture: AudioEffectCapture, seconds: float) -> float:
	capture.clear_buffer()
	var loudest := 0.0
	var deadline := Time.get_ticks_msec() + seconds * 1000.0
	while Time.get_ticks_msec() < deadline:
		await get_tree().process_frame
		loudest = maxf(loudest, _rms_of(capture))
	return loudest


func _rms_of(capture: AudioEffectCapture) -> float:
	var frames := capture.get_buffer(capture.get_frames_available())
	if frames.is_empty():
		return 0.0
	var sum := 0.0
	for frame: Vector2 in frames:
		sum += frame.x * frame.x + frame.y * frame.y
	return sqrt(sum / (2.0 * frames.size()))


## A looping "syllable": 400 ms of a 220 Hz tone with two harmonics, 300 ms of silence, so the
## voice activity detector sees onsets and pauses as in speech.
func _play_tone_into(bus: StringName) -> AudioStreamPlayer:
	var rate := 48000
	var data := PackedByteArray()
	data.resize(int(rate * 0.7) * 2)
	for i in range(int(rate * 0.4)):
		var t := float(i) / rate
		var s := sin(TAU * 220.0 * t) + 0.5 * sin(TAU * 440.0 * t) + 0.25 * sin(TAU * 660.0 * t)
		data.encode_s16(i * 2, int(s * TONE_AMPLITUDE * 32767.0))
	var wav := AudioStreamWAV.new()
	wav.format = AudioStreamWAV.FORMAT_16_BITS
	wav.mix_rate = rate
	wav.stereo = false
	wav.data = data
	wav.loop_mode = AudioStreamWAV.LOOP_FORWARD
	wav.loop_end = int(rate * 0.7)
	var player := AudioStreamPlayer.new()
	player.stream = wav
	player.bus = bus
	add_child(player)
	player.play()
	return player


## Development only: signs a join the way a game backend does (README, "How a game backend
## signs"), so the relay checks real signatures.
func _signed(open_id: String, group_id: String) -> Dictionary:
	var app_id: String = options["app-id"]
	var session_key := Marshalls.raw_to_base64(
		_hmac_sha256(options["app-secret"].to_utf8_buffer(), open_id.to_utf8_buffer())
	)
	var nonce_str := "%s-%08x%08x" % [open_id, randi(), randi()]
	var time_stamp := int(Time.get_unix_time_from_system())
	var parts := PackedStringArray([app_id, group_id, nonce_str, str(time_stamp)])
	parts.sort()
	var signature := (
		_hmac_sha256(session_key.to_utf8_buffer(), "".join(parts).to_utf8_buffer()).hex_encode()
	)
	return {
		"appId": app_id,
		"openId": open_id,
		"groupId": group_id,
		"nonceStr": nonce_str,
		"timeStamp": time_stamp,
		"signature": signature,
		"roomType": "voice",
		"muteConfig": {"muteMicrophone": false, "muteEarphone": false},
	}


func _hmac_sha256(key: PackedByteArray, message: PackedByteArray) -> PackedByteArray:
	var hmac := HMACContext.new()
	hmac.start(HashingContext.HASH_SHA256, key)
	hmac.update(message)
	return hmac.finish()


## `--key=value` user arguments (after `--` on Godot's command line).
func _user_options() -> Dictionary:
	var parsed := {}
	for arg: String in OS.get_cmdline_user_args():
		if arg.begins_with("--") and "=" in arg:
			var pair := arg.substr(2).split("=", true, 1)
			parsed[pair[0]] = pair[1]
	return parsed
